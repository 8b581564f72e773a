"""The VGG19 FCN tutorial on ADE20K: feature-space fusion, 151 classes, 224x224.

Alternatives: --head reference, --classes 150; --matconvnet-swap-hw reproduces its bug.

Settings item by item beside the tutorial's, data layout and deviations: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
import sys

from fcn_graph.recipes import as_script, main

if __name__ == "__main__":
    sys.exit(as_script(main, "ade20k_fcn8s_vgg19"))
