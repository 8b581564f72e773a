"""`fcn-graph export`: a SavedModel, a frozen GraphDef and a TensorFlow Lite model of a run.

With `--tflite`, the TFLite model is converted from the SavedModel (written
to a temporary directory when `--out` is not given) and checked against it
on real images, the `--calibration-data` folder or else the run's own
validation images: the largest probability difference, the share of pixels
given the same label, and the latency per image of both.
"""
import contextlib
import os
import tempfile

import tensorflow as tf

from fcn_graph.bench.measure import time_calls
from fcn_graph.commands.infer import count, parse_scales, parse_size, print_precision_note
from fcn_graph.errors import DataError, OutputExistsError, UsageError
from fcn_graph.evaluation import evaluation_source
from fcn_graph.export import INPUT_NAME, SIGNATURE, TTA_SIGNATURE, export_run
from fcn_graph.inference import as_rgb_array, image_files
from fcn_graph.precision import PRECISIONS
from fcn_graph.rundir import describe_checkpoint, load_record
from fcn_graph.tflite import (convert_saved_model, fitted, load_signature, parity_report,
                              tflite_runner)

# int8 calibration reads at most this many images of --calibration-data.
CALIBRATION_IMAGES = 100
LATENCY_RUNS = 5


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a trained run as a SavedModel, a frozen graph or a TFLite model",
        description="Signature 'serving_default': input 'image' (uint8 [H, W, 3] RGB) -> "
                    "'labels' (int32 [H, W]) and 'probabilities' (float32 [H, W, C]); with "
                    "--scales or --flip also signature 'tta', averaged over those copies.")
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint prefix")
    parser.add_argument("--out", help="SavedModel directory (must not exist); required unless "
                                      "--tflite is given")
    parser.add_argument("--frozen", metavar="FILE.pb",
                        help="also write a frozen GraphDef (weights as constants) here")
    parser.add_argument("--scales", type=parse_scales, default=(1.0,), metavar="S,S,...",
                        help="add signature 'tta' averaging the probabilities over these "
                             "scales (fixed at export), e.g. 0.5,0.75,1,1.25,1.5")
    parser.add_argument("--flip", action="store_true",
                        help="add signature 'tta' averaging over left-right mirror images too")
    parser.add_argument("--precision", choices=list(PRECISIONS),
                        help="compute precision of the exported network's convolutions "
                             "(default: the one it was trained in); its input and outputs are "
                             "the same in every precision")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --frozen or --tflite file (never a SavedModel "
                             "directory)")
    lite = parser.add_argument_group("TensorFlow Lite")
    lite.add_argument("--tflite", metavar="FILE.tflite",
                      help="also convert the 'serving_default' signature to a TFLite model")
    lite.add_argument("--quantize", choices=("float16", "int8"),
                      help="float16 weights, or int8 weights and activations calibrated on "
                           "--calibration-data (default: float32)")
    lite.add_argument("--calibration-data", metavar="DIR",
                      help=f"folder of images like those the model will see: int8 calibration "
                           f"(the first {CALIBRATION_IMAGES}) and the parity check (default for "
                           f"the parity check: the run's validation images)")
    lite.add_argument("--input-size", type=parse_size, metavar="HxW",
                      help="fix the TFLite input to HEIGHTxWIDTH (default: any size)")
    lite.add_argument("--parity-images", type=count("--parity-images"), default=8, metavar="N",
                      help="images compared with the SavedModel (default 8)")
    parser.set_defaults(func=run)


def run(args):
    if not args.out and not args.tflite:
        raise UsageError("export needs --out (a SavedModel directory), --tflite (a .tflite "
                         "file) or both")
    precision = args.precision or load_record(args.checkpoint).model.precision
    print_precision_note(precision)
    if args.tflite:
        check_tflite_arguments(args, precision)
        parity, calibration = tflite_images(args)
    with scratch_directory(args.out) as out:
        result = export_run(args.checkpoint, out, frozen=args.frozen, scales=args.scales,
                            flip=args.flip, overwrite=args.overwrite, precision=precision)
        if args.out:
            print(f"SavedModel of {describe_checkpoint(result['checkpoint'])} written to {out} "
                  f"(signatures {', '.join(result['signatures'])}, computing in "
                  f"{result['precision']})")
        if result["frozen"]:
            tta = (", and 'tta_labels:0', 'tta_probabilities:0'"
                   if TTA_SIGNATURE in result["signatures"] else "")
            print(f"frozen graph written to {result['frozen']} "
                  f"(input 'image:0', outputs 'labels:0', 'probabilities:0'{tta})")
        if args.tflite:
            write_tflite(args, out, parity, calibration)
    return 0


def check_tflite_arguments(args, precision):
    """Refuse what would fail after the export (of a network computing in `precision`):
    before any work is done."""
    if args.quantize == "int8" and not args.calibration_data:
        raise UsageError("--quantize int8 needs --calibration-data DIR: a folder of a few dozen "
                         "images like those the model will see")
    if precision != "float32":
        # TFLite has no 16-bit convolutions of its own; its float16 is a weight format.
        raise UsageError(f"--tflite converts a float32 network, and this one would compute in "
                         f"{precision}; pass --precision float32 (with --quantize float16 "
                         f"for 16-bit weights)")
    if os.path.exists(args.tflite) and not args.overwrite:
        raise OutputExistsError(f"--tflite {args.tflite} already exists; choose another file "
                                f"or pass --overwrite to replace it")


def tflite_images(args):
    """((where they come from, parity images), calibration images), uint8 RGB arrays."""
    if args.calibration_data:
        files = image_files([args.calibration_data])
        where = args.calibration_data
    else:
        record = load_record(args.checkpoint)
        split = record.settings.get("val_split", "val")
        if not record.settings.get("dataset"):
            raise DataError(f"{args.checkpoint}: the run names no dataset whose validation "
                            f"images the TFLite parity check could read; pass "
                            f"--calibration-data DIR")
        try:
            source = evaluation_source(record)
            files = [image for image, _, _ in source.examples(split)]
        except DataError as err:
            raise DataError(f"{err} (the TFLite parity check reads the run's validation "
                            f"images; pass --calibration-data DIR to use others)") from err
        where = f"{source.name} {split}"
    calibration = [as_rgb_array(path) for path in files[:CALIBRATION_IMAGES]] \
        if args.quantize == "int8" else []
    parity = [as_rgb_array(path) for path in files[:args.parity_images]]
    if not parity:
        raise DataError(f"{where}: no images for the TFLite parity check; pass "
                        f"--calibration-data DIR")
    return (where, parity), calibration


@contextlib.contextmanager
def scratch_directory(out):
    """`out` itself, or a SavedModel path in a temporary directory removed afterwards."""
    if out:
        yield out
        return
    with tempfile.TemporaryDirectory() as directory:
        yield os.path.join(directory, "saved_model")


def write_tflite(args, saved_model, parity, calibration):
    """Convert, then print the parity report and the latency of both models."""
    converted = convert_saved_model(saved_model, args.tflite, quantize=args.quantize,
                                    calibration_images=calibration, input_size=args.input_size,
                                    overwrite=args.overwrite)
    size = converted["input_size"]
    print(f"TFLite model written to {args.tflite} ({converted['bytes'] / 2 ** 20:.1f} MiB, "
          f"{converted['quantize'] or 'float32'}, input "
          f"{f'{size[0]}x{size[1]}' if size else 'of any size'})")
    where, images = parity
    report = parity_report(saved_model, args.tflite, images)
    print(f"parity with the SavedModel on {report['num_images']} images ({where}): max "
          f"probability difference {report['max_probability_difference']:.2e} (mean "
          f"{report['mean_probability_difference']:.2e}), labels agree on "
          f"{100 * report['label_agreement']:.2f}% of {report['num_pixels']} pixels")
    image = fitted(images[0], size)
    saved = load_signature(saved_model).signatures[SIGNATURE]
    lite = tflite_runner(args.tflite)
    saved_time, _ = time_calls(lambda: saved(**{INPUT_NAME: tf.constant(image)}),
                               LATENCY_RUNS, warmup=1)
    lite_time, _ = time_calls(lambda: lite(**{INPUT_NAME: image}), LATENCY_RUNS, warmup=1)
    print(f"latency per {image.shape[0]}x{image.shape[1]} image (median of {LATENCY_RUNS}): "
          f"SavedModel {1000 * saved_time:.1f} ms, TFLite {1000 * lite_time:.1f} ms")
