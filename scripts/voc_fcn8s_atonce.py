"""FCN-8s trained at once from ImageNet VGG16 on SBD train / seg11valid.

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
from fcn_graph.recipes import main

if __name__ == "__main__":
    main("voc_fcn8s_atonce")
