"""FCN-16s on SBD train / seg11valid, initialised from the FCN-32s run (--init-from).

Settings, data layout and published numbers: scripts/README.md.
`--smoke` runs the same recipe for a few steps at tiny sizes.
"""
from fcn_graph.recipes import main

if __name__ == "__main__":
    main("voc_fcn16s")
