"""Score a released FCN .caffemodel on seg11valid beside the published mean IU.

Expected: FCN-32s 63.6, FCN-16s 65.0, FCN-8s 65.5, FCN-8s at-once 65.4
(scripts/README.md).
"""
from fcn_graph.recipes import evaluate_released

if __name__ == "__main__":
    evaluate_released()
