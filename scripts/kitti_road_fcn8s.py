"""VGG16 FCN-8s for road / background on KITTI road.

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
from fcn_graph.recipes import main

if __name__ == "__main__":
    main("kitti_road_fcn8s")
