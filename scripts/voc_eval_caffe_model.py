"""Score a released FCN .caffemodel on seg11valid beside the published mean IU.

Expected: FCN-32s 63.6, FCN-16s 65.0, FCN-8s 65.5, FCN-8s at-once 65.4
(scripts/README.md).
"""
import sys

from fcn_graph.recipes import as_script, evaluate_released

if __name__ == "__main__":
    sys.exit(as_script(evaluate_released))
