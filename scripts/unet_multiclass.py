"""A U-Net for multi-class street scenes (folder source or TFRecords).

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
from fcn_graph.recipes import main

if __name__ == "__main__":
    main("unet_multiclass")
