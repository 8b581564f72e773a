"""The tutorial's small FCN on 7-class Cityscapes at 384x160 (--skips: skip decoder).

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "cityscapes7_simple_fcn"))
