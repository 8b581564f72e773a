"""`fcn-graph export`: SavedModel and frozen graph, loaded by plain TensorFlow in a fresh process;
the test-time augmentation signature; TFLite conversion with its parity report."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fcn_graph.errors import OutputExistsError
from fcn_graph.export import export_run
from fcn_graph.inference import InferenceOptions, predict
from fcn_graph.tflite import tflite_runner
from fixtures import SYNTHETIC_CLASSES, assert_same_prediction, make_run, run_command

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
        assert_same_prediction(out[f"{kind}_labels"], out[f"{kind}_probabilities"], labels[0],
                               probabilities[0])
    assert np.unique(labels[0]).size > 1


def test_export_refuses_an_existing_directory(tmp_path):
    run_dir = str(tmp_path / "run")
    make_run(run_dir, tmp_path / "data")
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputExistsError, match="taken"):
        export_run(run_dir, str(tmp_path / "taken"))


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_options")
    make_run(str(root / "run"), root / "data")
    return str(root / "run")


def test_the_tta_signature_averages_as_fcn_graph_tta_does(exported_run, tmp_path):
    scales = (0.5, 0.75, 1.0, 1.5)
    result = export_run(exported_run, str(tmp_path / "export"), frozen=str(tmp_path / "f.pb"),
                        scales=scales, flip=True)
    assert result["signatures"] == ["serving_default", "tta"]
    classes = json.loads((tmp_path / "export" / "assets.extra" / "classes.json").read_text())
    assert classes["tta"] == {"signature": "tta", "scales": list(scales), "flip": True}
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    options = InferenceOptions(scales=scales, flip=True)
    # Odd sizes: round(0.5 * 21) = 10 is the half-to-even rounding both sides must agree on.
    for shape in ((21, 35, 3), (24, 32, 3)):
        image = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)
        outputs = loaded.signatures["tta"](image=tf.constant(image))
        labels, probabilities = predict(exported_run, image, return_probabilities=True,
                                        options=options)
        assert_same_prediction(outputs["labels"].numpy(), outputs["probabilities"].numpy(),
                               labels[0], probabilities[0])
        # The augmented copies change the result: the comparison above can fail.
        plain = loaded.signatures["serving_default"](image=tf.constant(image))
        assert np.abs(plain["probabilities"].numpy() - probabilities[0]).max() > 1e-3
        assert np.unique(labels[0]).size > 1


def test_frozen_file_is_replaced_only_with_overwrite(exported_run, tmp_path, capsys):
    frozen = tmp_path / "fcn.pb"
    frozen.write_bytes(b"taken")
    assert run_command(["export", "--checkpoint", exported_run, "--out", tmp_path / "a",
                        "--frozen", frozen]) == 1
    assert "--frozen" in capsys.readouterr().err and frozen.read_bytes() == b"taken"
    assert not (tmp_path / "a").exists()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_run(exported_run, str(tmp_path / "b"), frozen=str(frozen))
    assert run_command(["export", "--checkpoint", exported_run, "--out", tmp_path / "c",
                        "--frozen", frozen, "--overwrite"]) == 0
    assert frozen.stat().st_size > 1000


def test_tflite_from_the_command_line_agrees_with_the_saved_model(exported_run, tmp_path, capsys):
    model = tmp_path / "fcn.tflite"
    assert run_command(["export", "--checkpoint", exported_run, "--tflite", model]) == 0
    printed = capsys.readouterr().out
    # Parity on the run's own validation images (3 synthetic scenes of 24x32).
    match = re.search(r"parity with the SavedModel on 3 images \(synthetic val\): max probability "
                      r"difference (\S+) .* labels agree on (\S+)% of 2304 pixels", printed)
    assert match, printed
    assert float(match.group(1)) < 1e-3 and float(match.group(2)) > 99.0
    assert re.search(r"latency per 24x32 image \(median of 5\): SavedModel \S+ ms, TFLite \S+ ms",
                     printed)
    assert "SavedModel of" not in printed  # no --out: the SavedModel was temporary
    image = np.random.default_rng(9).integers(0, 256, (19, 27, 3), dtype=np.uint8)
    _, probabilities = predict(exported_run, image, return_probabilities=True)
    lite = tflite_runner(str(model))(image=image)
    np.testing.assert_allclose(lite["probabilities"], probabilities[0], atol=1e-3)
    # Calibration images from a folder, a fixed input size and int8.
    folder = tmp_path / "calibration"
    folder.mkdir()
    for seed in range(3):
        Image.fromarray(np.random.default_rng(seed).integers(0, 256, (30, 40, 3), np.uint8)).save(
            folder / f"{seed}.png")
    assert run_command(["export", "--checkpoint", exported_run, "--tflite", model, "--overwrite",
                        "--quantize", "int8", "--calibration-data", folder,
                        "--input-size", "24x32", "--parity-images", "2"]) == 0
    printed = capsys.readouterr().out
    assert "int8, input 24x32" in printed and f"on 2 images ({folder})" in printed


# argparse refuses a malformed value (SystemExit 2); the command refuses a bad combination.
@pytest.mark.parametrize("flags, status, message", [
    (["--tflite", "m.tflite", "--quantize", "int8"], 2, "--calibration-data"),
    (["--tflite", "taken.tflite"], 1, "--tflite taken.tflite already exists"),
    (["--tflite", "m.tflite", "--input-size", "0x32"], "argparse", "--input-size"),
    (["--scales", "0"], "argparse", "--scales"),
    ([], 2, "--out"),
])
def test_bad_export_flags_name_the_flag(exported_run, tmp_path, monkeypatch, capsys, flags,
                                        status, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.tflite").write_bytes(b"taken")
    command = ["export", "--checkpoint", exported_run] + flags
    if status == "argparse":
        with pytest.raises(SystemExit) as exit_info:
            run_command(command)
        assert exit_info.value.code == 2
    else:
        assert run_command(command) == status
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "m.tflite").exists()
    assert (tmp_path / "taken.tflite").read_bytes() == b"taken"
