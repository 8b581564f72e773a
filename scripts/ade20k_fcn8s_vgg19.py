"""FCN-8s on a VGG19 backbone for ADE20K's 150 classes.

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "ade20k_fcn8s_vgg19"))
