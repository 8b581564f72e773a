"""FCN-32s on SBD train / seg11valid from ImageNet VGG16 (reference solver or --adam).

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "voc_fcn32s"))
