"""The weight model, the architecture table and the file readers import without TensorFlow.

`fcn_graph/__init__.py` and `fcn_graph/weights/__init__.py` import
TensorFlow for the public API, so the check runs in a fresh interpreter
that registers those two packages bare (no `__init__` code): only the
module's own imports, and theirs, run.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from fcn_graph import architecture, vgg

PACKAGE = Path(__file__).resolve().parents[1] / "fcn_graph"
PROBE = """
import sys, types
for name, folder in {packages!r}:
    package = types.ModuleType(name)
    package.__path__ = [folder]
    sys.modules[name] = package
import {module}
print(sorted(name for name in sys.modules if name.split(".")[0] == "tensorflow"))
"""


@pytest.mark.parametrize("module", [
    "fcn_graph.architecture", "fcn_graph.weights.model", "fcn_graph.weights.npy",
    "fcn_graph.weights.canonical", "fcn_graph.weights.matconvnet", "fcn_graph.weights.keras"])
def test_module_does_not_import_tensorflow(module):
    packages = [("fcn_graph", str(PACKAGE)), ("fcn_graph.weights", str(PACKAGE / "weights"))]
    code = PROBE.format(packages=packages, module=module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_vgg_keeps_the_table_names():
    for name in ("REPEATS", "BLOCK_CHANNELS", "FC_CHANNELS", "FC6_SIZE", "check_arch",
                 "conv_layer_names", "layer_names", "scaled"):
        assert getattr(vgg, name) is getattr(architecture, name)
