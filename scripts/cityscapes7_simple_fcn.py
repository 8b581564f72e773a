"""The small-FCN tutorial on 7-class Cityscapes at 384x160.

Alternatives: --skips (its second model), --upsampling deconv, --initializer he.

Settings item by item beside the tutorial's, data layout and deviations: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "cityscapes7_simple_fcn"))
