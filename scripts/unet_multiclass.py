"""A U-Net for multi-class street scenes (folder source or TFRecords).

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "unet_multiclass"))
