"""TFLite conversion of an exported run and its agreement with the SavedModel."""
import numpy as np
import pytest

from fcn_graph.errors import CheckpointError, OutputExistsError, SettingsError
from fcn_graph.export import export_run
from fcn_graph.tflite import convert_saved_model, parity_report, tflite_runner


@pytest.fixture(scope="module")
def saved_model(tiny_run, tmp_path_factory):
    run_dir, _ = tiny_run
    out = str(tmp_path_factory.mktemp("export") / "saved_model")
    export_run(run_dir, out)
    return out


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size + (3,), dtype=np.uint8) for size in ((24, 32), (19, 27))]


@pytest.fixture(scope="module")
def float32_model(saved_model, tmp_path_factory):
    return convert_saved_model(saved_model, str(tmp_path_factory.mktemp("tflite") / "fcn.tflite"))


def test_float32_model_of_any_size_agrees_with_the_saved_model(saved_model, float32_model, images):
    assert float32_model["quantize"] is None and float32_model["input_size"] is None
    shape = tflite_runner(float32_model["tflite"]).get_input_details()["image"]["shape_signature"]
    assert list(shape) == [-1, -1, 3]
    report = parity_report(saved_model, float32_model["tflite"], images)
    assert report["num_images"] == 2
    assert report["num_pixels"] == 24 * 32 + 19 * 27  # each image at its own size
    assert report["max_probability_difference"] < 1e-3
    assert report["label_agreement"] > 0.99


def test_fixed_input_size_resizes_what_it_is_given(saved_model, images, tmp_path):
    out = convert_saved_model(saved_model, str(tmp_path / "fixed.tflite"), input_size=(16, 20))
    shape = tflite_runner(out["tflite"]).get_input_details()["image"]["shape_signature"]
    assert list(shape) == [16, 20, 3]
    report = parity_report(saved_model, out["tflite"], images)
    assert report["input_size"] == (16, 20) and report["num_pixels"] == 2 * 16 * 20
    assert report["max_probability_difference"] < 1e-3


def test_quantized_models_run_and_report(saved_model, float32_model, images, tmp_path):
    half = convert_saved_model(saved_model, str(tmp_path / "half.tflite"), quantize="float16")
    calibrated = convert_saved_model(saved_model, str(tmp_path / "int8.tflite"), quantize="int8",
                                     calibration_images=images, input_size=(24, 32))
    # Weights take 2 bytes and 1 byte instead of 4.
    assert half["bytes"] < 0.6 * float32_model["bytes"]
    assert calibrated["bytes"] < 0.35 * float32_model["bytes"]
    for model in (half, calibrated):
        report = parity_report(saved_model, model["tflite"], images)
        for key in ("max_probability_difference", "mean_probability_difference",
                    "label_agreement"):
            assert 0.0 <= report[key] <= 1.0, (model["quantize"], key)
        if model is half:
            assert report["label_agreement"] > 0.9


def test_settings_are_checked_before_converting(tmp_path):
    missing = str(tmp_path / "no_export")
    out = str(tmp_path / "m.tflite")
    with pytest.raises(SettingsError, match="--quantize"):
        convert_saved_model(missing, out, quantize="int4")
    with pytest.raises(SettingsError, match="--calibration-data"):
        convert_saved_model(missing, out, quantize="int8")
    with pytest.raises(SettingsError, match="--input-size"):
        convert_saved_model(missing, out, input_size=(0, 32))
    with pytest.raises(CheckpointError, match="not a SavedModel"):
        convert_saved_model(missing, out)
    (tmp_path / "m.tflite").write_bytes(b"taken")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        convert_saved_model(missing, out)
    assert (tmp_path / "m.tflite").read_bytes() == b"taken"
