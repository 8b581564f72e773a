"""The single-image FCN-32s tutorial: FCN-32s from TF-slim's VGG16 on one photo, then a CRF.

Settings, deviations and the figure: scripts/README.md. The same demo is
`fcn-graph demo overfit`; `--preset comparison` is its FCN-32s/FCN-8s figure.
`--smoke` runs the same code path for 2 steps at 1/16 width without weights.
"""
import sys

from fcn_graph.commands.demo import overfit_main
from fcn_graph.recipes import as_script

if __name__ == "__main__":
    sys.exit(as_script(overfit_main))
