"""FCN-8s on a VGG19 backbone for ADE20K's 150 classes.

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
from fcn_graph.recipes import main

if __name__ == "__main__":
    main("ade20k_fcn8s_vgg19")
