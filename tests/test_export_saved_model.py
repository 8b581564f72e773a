"""`fcn-graph export`: SavedModel and frozen graph, loaded by plain TensorFlow in a fresh process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fcn_graph.errors import OutputExistsError
from fcn_graph.export import export_run
from fcn_graph.inference import predict
from fixtures import SYNTHETIC_CLASSES, make_run, run_command

# Runs in a new interpreter that never imports fcn_graph: only TensorFlow and numpy.
LOADER = r"""
import sys
import numpy as np
import tensorflow as tf

saved_model, frozen, image_file, out_file = sys.argv[1:]
image = np.load(image_file)
outputs = tf.saved_model.load(saved_model).signatures["serving_default"](
    image=tf.constant(image))
graph_def = tf.compat.v1.GraphDef()
with open(frozen, "rb") as f:
    graph_def.ParseFromString(f.read())
graph = tf.Graph()
with graph.as_default():
    tf.compat.v1.import_graph_def(graph_def, name="")
with tf.compat.v1.Session(graph=graph) as sess:
    labels, probabilities = sess.run(["labels:0", "probabilities:0"], {"image:0": image})
np.savez(out_file, saved_labels=outputs["labels"].numpy(),
         saved_probabilities=outputs["probabilities"].numpy(),
         frozen_labels=labels, frozen_probabilities=probabilities,
         has_fcn_graph="fcn_graph" in sys.modules,
         num_variable_ops=sum(op.type in ("VariableV2", "VarHandleOp") for op in graph.get_operations()))
"""


@pytest.mark.parametrize("geometry", ["caffe", "same"])
def test_export_loads_without_fcn_graph_and_agrees(tmp_path, geometry):
    run_dir = str(tmp_path / "run")
    make_run(run_dir, tmp_path / "data", geometry=geometry, seed=7)
    saved_model, frozen = tmp_path / "export", tmp_path / "frozen" / "fcn.pb"
    assert run_command(["export", "--checkpoint", run_dir, "--out", str(saved_model),
                                  "--frozen", str(frozen)]) == 0
    classes = json.loads((saved_model / "assets.extra" / "classes.json").read_text())
    assert classes["class_names"][4] == "vehicle"

    image = np.random.default_rng(0).integers(0, 256, (21, 35, 3), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")
    subprocess.run([sys.executable, "-c", LOADER, str(saved_model), str(frozen),
                    str(tmp_path / "image.npy"), str(tmp_path / "out.npz")],
                   check=True, env=env, cwd=str(tmp_path), timeout=300)
    out = np.load(tmp_path / "out.npz")
    assert not out["has_fcn_graph"]
    assert out["num_variable_ops"] == 0  # the frozen graph carries its weights as constants

    labels, probabilities = predict(run_dir, image, return_probabilities=True)
    assert out["saved_labels"].shape == image.shape[:2]
    assert out["saved_probabilities"].shape == image.shape[:2] + (SYNTHETIC_CLASSES,)
    assert out["saved_labels"].dtype == np.int32
    for kind in ("saved", "frozen"):
        np.testing.assert_allclose(out[f"{kind}_probabilities"], probabilities[0], atol=1e-5)
        np.testing.assert_array_equal(out[f"{kind}_labels"], labels[0])
    assert np.unique(labels[0]).size > 1


def test_export_refuses_an_existing_directory(tmp_path):
    run_dir = str(tmp_path / "run")
    make_run(run_dir, tmp_path / "data")
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputExistsError, match="taken"):
        export_run(run_dir, str(tmp_path / "taken"))
