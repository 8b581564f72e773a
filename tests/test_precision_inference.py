"""--precision for eval, infer and export: the network computes in the precision asked for
(default: the run's own), its outputs stay float32 and close to float32's, and a precision
this machine would emulate is named before the work starts."""
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fcn_graph import precision as precision_module
from fcn_graph.errors import SettingsError
from fcn_graph.export import export_run
from fcn_graph.inference import InferenceOptions, Segmenter
from fcn_graph.precision import emulation_note
from fcn_graph.rundir import load_record, write_record

CONVOLUTIONS = ("Conv2D", "MatMul", "Conv2DBackpropInput")


def compute_dtypes(graph):
    return {op.outputs[0].dtype for op in graph.get_operations() if op.type in CONVOLUTIONS}


def segmented(run_dir, image, precision=None):
    with Segmenter(run_dir, options=InferenceOptions(precision=precision)) as segmenter:
        labels, probabilities = segmenter.segment(image)
        return segmenter.spec.precision, compute_dtypes(segmenter.graph), labels, probabilities


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)


def test_inference_computes_in_the_precision_asked_for(tiny_run, image):
    run_dir, _ = tiny_run
    precision, dtypes, labels, probabilities = segmented(run_dir, image)
    assert (precision, dtypes) == ("float32", {tf.float32})
    for low, dtype in (("bfloat16", tf.bfloat16), ("mixed_float16", tf.float16)):
        precision, dtypes, low_labels, low_probabilities = segmented(run_dir, image, low)
        assert (precision, dtypes) == (low, {dtype})
        assert low_probabilities.dtype == np.float32
        # Random weights put some pixels near a tie, where a rounding flips the winner:
        # close on average, and the same label almost everywhere.
        difference = np.abs(low_probabilities - probabilities)
        assert 0 < difference.mean() < 0.01
        assert (low_labels == labels).mean() > 0.98


def test_a_run_trained_in_bfloat16_infers_in_it_unless_told(tmp_path, make_run, image):
    run_dir = str(tmp_path / "run")
    record = make_run(run_dir, tmp_path / "data")
    write_record(run_dir, dataclasses.replace(
        record, model=dataclasses.replace(record.model, precision="bfloat16")))
    assert load_record(run_dir).model.precision == "bfloat16"
    assert segmented(run_dir, image)[:2] == ("bfloat16", {tf.bfloat16})
    assert segmented(run_dir, image, "float32")[:2] == ("float32", {tf.float32})


def test_unknown_precision_is_refused(run_command, tiny_run, tmp_path, capsys):
    with pytest.raises(SettingsError, match="precision"):
        InferenceOptions(precision="float8")
    run_dir, _ = tiny_run
    with pytest.raises(SystemExit) as exit_info:
        run_command(["infer", "--checkpoint", run_dir, "--out", str(tmp_path / "out"),
                     "--precision", "half", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--precision" in capsys.readouterr().err


def test_eval_and_infer_take_precision_and_name_emulation(run_command, tiny_run, tmp_path,
                                                          image, capsys, monkeypatch):
    run_dir, _ = tiny_run
    assert run_command(["eval", "--checkpoint", run_dir, "--precision", "bfloat16"]) == 0
    printed = capsys.readouterr().out
    assert "whole images, batch 1, bfloat16" in printed and "mean IU" in printed
    # A CPU without bfloat16 arithmetic: said before the work, and the work still done.
    monkeypatch.setattr(precision_module, "cpu_flags", lambda path=None: set())
    monkeypatch.setattr(precision_module, "gpu_capabilities", lambda: [])
    Image.fromarray(image).save(tmp_path / "in.png")
    assert run_command(["infer", "--checkpoint", run_dir, "--out", str(tmp_path / "out"),
                        "--precision", "bfloat16", str(tmp_path / "in.png")]) == 0
    printed = capsys.readouterr().out
    assert "note: bfloat16 is not native here" in printed
    assert printed.index("note: bfloat16") < printed.index("in.png:")
    assert (tmp_path / "out" / "in.png").exists()


def test_emulation_note_follows_the_hardware():
    assert emulation_note("float32", flags=set(), capabilities=[]) is None
    assert emulation_note("bfloat16", flags={"avx512_bf16"}, capabilities=[]) is None
    assert "emulated" in emulation_note("bfloat16", flags={"avx512f"}, capabilities=[])
    assert emulation_note("mixed_float16", flags=set(), capabilities=[(8, 0)]) is None
    assert "below 7.0" in emulation_note("mixed_float16", flags=set(), capabilities=[(6, 1)])


def test_export_in_another_precision(run_command, tiny_run, tmp_path, image):
    run_dir, _ = tiny_run
    outputs = {}
    for precision in ("float32", "bfloat16"):
        out = tmp_path / precision
        result = export_run(run_dir, str(out), precision=precision)
        assert result["precision"] == precision
        classes = json.loads((out / "assets.extra" / "classes.json").read_text())
        assert classes["precision"] == precision
        served = tf.saved_model.load(str(out)).signatures["serving_default"](
            image=tf.constant(image))
        outputs[precision] = served["probabilities"].numpy()
        assert outputs[precision].dtype == np.float32
    assert 0 < np.abs(outputs["bfloat16"] - outputs["float32"]).mean() < 0.01
    # TFLite converts float32 networks only; refused before anything is written.
    assert run_command(["export", "--checkpoint", run_dir, "--precision", "bfloat16",
                        "--tflite", str(tmp_path / "m.tflite")]) == 2
    assert not (tmp_path / "m.tflite").exists()
