"""The VGG16 FCN-8s tutorial on KITTI road at 576x160.

Alternative: --head reference; --label-resize bilinear reproduces its bug.

Settings item by item beside the tutorial's, data layout and deviations: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "kitti_road_fcn8s"))
