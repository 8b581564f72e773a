"""The multi-class U-Net tutorial: the TensorFlow example's U-Net at 256x256.

Alternative: --net paper; --tutorial-miou also prints its per-batch mean IoU.

Settings item by item beside the tutorial's, data layout and deviations: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "unet_multiclass"))
