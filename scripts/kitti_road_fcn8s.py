"""VGG16 FCN-8s for road / background on KITTI road.

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "kitti_road_fcn8s"))
