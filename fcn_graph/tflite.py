"""TensorFlow Lite models from an exported SavedModel, and how closely they agree with it.

The SavedModel is the one `fcn_graph.export.export_run` writes: signature
`serving_default`, input `image` (uint8 [H, W, 3]), outputs `labels` (int32
[H, W]) and `probabilities` (float32 [H, W, C]). The TFLite model keeps
that signature. Conversion goes through a concrete function of the loaded
signature, which works for these TF1-style graphs and lets the input shape
be fixed: without `input_size` the model keeps [None, None, 3] and the
interpreter resizes its tensors for each image; accelerators and most
mobile runtimes want a fixed `input_size=(h, w)` instead.
"""
import contextlib
import os
import warnings

import numpy as np
import tensorflow as tf

from fcn_graph.errors import CheckpointError, OutputExistsError, SettingsError
from fcn_graph.export import INPUT_NAME, SIGNATURE
from fcn_graph.windows import resized, size_pair

QUANTIZATIONS = (None, "float16", "int8")


def convert_saved_model(saved_model_dir, out_path, quantize=None, calibration_images=None,
                        input_size=None, overwrite=False):
    """Write a .tflite model of the SavedModel; returns {tflite, bytes, quantize, input_size}.

    `quantize`: None keeps float32; "float16" stores the weights as float16
    (computed in float32); "int8" quantizes weights and activations to int8
    from the value ranges seen on `calibration_images` (uint8 HxWx3 arrays,
    resized bilinearly to `input_size` when it is fixed), keeping float
    kernels where an op has no int8 one. The model's input and outputs keep
    their types in every case. `out_path` is refused if it exists, unless
    `overwrite`.
    """
    if quantize not in QUANTIZATIONS:
        raise SettingsError(f"--quantize must be float16 or int8 (or absent for float32), "
                            f"got {quantize!r}")
    if input_size is not None:
        input_size = size_pair(input_size, "--input-size")
    calibration = [np.asarray(image) for image in calibration_images or ()]
    if quantize == "int8" and not calibration:
        raise SettingsError("int8 quantization needs calibration images: pass --calibration-data "
                            "with a few dozen images like those the model will see")
    if os.path.exists(out_path) and not overwrite:
        raise OutputExistsError(f"{out_path} already exists; choose another --out or pass "
                                f"--overwrite")
    loaded = load_signature(saved_model_dir)
    signature = loaded.signatures[SIGNATURE]
    shape = list(input_size or (None, None)) + [3]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.uint8, name=INPUT_NAME)])
    def serve(image):
        return signature(**{INPUT_NAME: image})

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], loaded)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = lambda: (
            {INPUT_NAME: fitted(image, input_size)} for image in calibration)
    with interpreter_notice_silenced():  # int8 calibration runs the interpreter
        model = converter.convert()
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    with open(out_path, "wb") as f:
        f.write(model)
    return {"tflite": out_path, "bytes": len(model), "quantize": quantize,
            "input_size": input_size}


def parity_report(saved_model_dir, tflite_path, images):
    """How the TFLite model's outputs compare with the SavedModel's on `images` (uint8 HxWx3).

    Returns {"num_images", "num_pixels", "max_probability_difference",
    "mean_probability_difference", "label_agreement", "input_size"}: the
    largest and mean absolute difference of any class probability, and the
    fraction of pixels given the same label. The SavedModel outputs
    probabilities, not logits, so that is what is compared. For a model
    with a fixed input size, each image is first resized bilinearly to it
    and both models see the resized image.
    """
    signature = load_signature(saved_model_dir).signatures[SIGNATURE]
    runner = tflite_runner(tflite_path)
    shape = runner.get_input_details()[INPUT_NAME]["shape_signature"]
    input_size = None if min(shape[:2]) < 0 else (int(shape[0]), int(shape[1]))
    largest, total, values, agreeing, pixels, count = 0.0, 0.0, 0, 0, 0, 0
    for image in images:
        image = fitted(np.asarray(image), input_size)
        expected = {key: value.numpy() for key, value in signature(
            **{INPUT_NAME: tf.constant(image)}).items()}
        actual = runner(**{INPUT_NAME: image})
        difference = np.abs(actual["probabilities"] - expected["probabilities"])
        largest = max(largest, float(difference.max()))
        total += float(difference.sum())
        values += difference.size
        agreeing += int(np.sum(actual["labels"] == expected["labels"]))
        pixels += expected["labels"].size
        count += 1
    if not count:
        raise ValueError("parity_report needs at least one image")
    return {"num_images": count, "num_pixels": pixels, "max_probability_difference": largest,
            "mean_probability_difference": total / values,
            "label_agreement": agreeing / pixels, "input_size": input_size}


def load_signature(saved_model_dir):
    """The loaded SavedModel; a CheckpointError naming the directory if it is not an export."""
    path = str(saved_model_dir)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise CheckpointError(f"{path}: not a SavedModel (no saved_model.pb); pass the directory "
                              f"`fcn-graph export` wrote")
    loaded = tf.saved_model.load(path)
    if SIGNATURE not in loaded.signatures:
        raise CheckpointError(f"{path}: the SavedModel has no '{SIGNATURE}' signature; pass the "
                              f"directory `fcn-graph export` wrote")
    return loaded


def tflite_runner(tflite_path):
    """The `serving_default` signature runner of a .tflite file."""
    with interpreter_notice_silenced():
        interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    return interpreter.get_signature_runner(SIGNATURE)


@contextlib.contextmanager
def interpreter_notice_silenced():
    """TensorFlow's interpreter announces its move to the ai_edge_litert package; it still works."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
        yield


def fitted(image, input_size):
    """A uint8 HxWx3 image, resized bilinearly to `input_size` (height, width) when that is set."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"images must be HxWx3 RGB, got shape {image.shape}")
    if input_size is not None and image.shape[:2] != tuple(input_size):
        image = np.clip(np.round(resized(image.astype(np.float32), *input_size,
                                         anti_aliasing=False)), 0, 255)
    return image.astype(np.uint8)
