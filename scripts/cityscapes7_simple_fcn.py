"""The tutorial's small FCN on 7-class Cityscapes at 384x160 (--skips: skip decoder).

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
from fcn_graph.recipes import main

if __name__ == "__main__":
    main("cityscapes7_simple_fcn")
