"""`fcn-graph infer`: label PNGs and colour overlays for images or folders of images.

Nothing is written over: outputs are planned for every input first, named
`<stem>.png` and `<stem>_overlay.png`, or `<name with extension>.png` where
two inputs share a stem or an output would land on an input; an output
file that already exists is refused unless `--overwrite`.

The inference flags (`--tile`, `--overlap`, `--scales`, `--flip`,
`--batch-size`) are shared with `eval`, which adds them with
`add_inference_arguments` and reads them with `inference_options`.
"""
import argparse
import os
import time
from collections import Counter

import numpy as np
import tensorflow as tf
from PIL import Image

from fcn_graph import crf
from fcn_graph.bench.measure import PeakMemory, resident_bytes
from fcn_graph.data import overlay, save_label_png, voc_palette
from fcn_graph.errors import OutputExistsError, SettingsError
from fcn_graph.inference import InferenceOptions, Segmenter, as_rgb_array, image_files
from fcn_graph.precision import PRECISIONS, emulation_note
from fcn_graph.rundir import describe_checkpoint
from fcn_graph.training.config import NON_NEGATIVE, at_least, checked_argument
from fcn_graph.tta import checked_scales

LABEL_SUFFIX, OVERLAY_SUFFIX = ".png", "_overlay.png"
MIB = 2 ** 20


def parse_size(text):
    """'512x256' (HEIGHTxWIDTH) -> (512, 256); '512' -> (512, 512)."""
    try:
        values = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        values = ()
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give HEIGHTxWIDTH in pixels, "
                                         f"e.g. 512x1024, or one number for a square")
    return values * 2 if len(values) == 1 else values


def parse_scales(text):
    """'0.5,1,1.5' -> (0.5, 1.0, 1.5), each positive."""
    try:
        return tuple(checked_scales(text.split(",")))
    except SettingsError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def count(flag):
    """An argparse type: a whole number of at least 1, naming `flag` otherwise."""
    return checked_argument(int, at_least(1), flag)


def add_inference_arguments(parser, batch_help):
    """The flags that say how each image is run (see `fcn_graph.inference.InferenceOptions`)."""
    group = parser.add_argument_group("how each image is run")
    group.add_argument("--tile", type=parse_size, metavar="HxW",
                       help="segment large images tile by tile (HEIGHTxWIDTH pixels, at least "
                            "the network's stride), blending the tiles' probabilities")
    group.add_argument("--overlap", type=checked_argument(int, NON_NEGATIVE, "--overlap"),
                       default=0, metavar="P",
                       help="pixels neighbouring tiles share (default 0); a quarter of it "
                            "at each inner tile edge is discarded")
    group.add_argument("--scales", type=parse_scales, default=(1.0,), metavar="S,S,...",
                       help="test-time augmentation: average the probabilities of the image "
                            "rescaled by each factor, e.g. 0.5,0.75,1,1.25,1.5")
    group.add_argument("--flip", action="store_true",
                       help="test-time augmentation: also average over left-right mirror images")
    group.add_argument("--batch-size", type=count("--batch-size"), default=1, help=batch_help)
    group.add_argument("--precision", choices=list(PRECISIONS),
                       help="compute precision of the network's convolutions (default: the "
                            "one it was trained in); its weights and probabilities stay "
                            "float32")


def inference_options(args):
    """The InferenceOptions of the flags `add_inference_arguments` added."""
    return InferenceOptions(tile=args.tile, overlap=args.overlap, scales=args.scales,
                            flip=args.flip, batch_size=args.batch_size, precision=args.precision)


def print_precision_note(precision):
    """Say so before the work when `precision` is emulated on this machine."""
    note = emulation_note(precision)
    if note:
        print(note)


def measured_memory():
    """A PeakMemory of this process's resident memory above its size now."""
    return PeakMemory(baseline=resident_bytes())


def memory_line(memory):
    """Peak memory of an inference phase: resident memory above its start, and on a GPU the
    TensorFlow allocator's peak."""
    line = f"peak memory {memory.peak_bytes / MIB:.0f} MiB above the start ({memory.method})"
    if tf.config.list_physical_devices("GPU"):
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        line += f", GPU allocator peak {peak / MIB:.0f} MiB"
    return line


def register(subparsers):
    parser = subparsers.add_parser(
        "infer", help="segment images with a trained run",
        description="Write LABEL PNGs (palette, class ids as pixel values) and colour overlays "
                    "for each image; folders are read non-recursively.")
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint prefix")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--alpha", type=float, default=0.5,
                        help="overlay opacity of the class colours (default 0.5)")
    parser.add_argument("--crf", action="store_true",
                        help="refine with a dense CRF (needs pydensecrf2)")
    crf.add_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (never an input)")
    add_inference_arguments(
        parser, "images per run, padded to the largest with the mean colour (exact for "
                "images of one size; near the bottom and right edges of smaller images the "
                "padding can change the result); with --tile, tiles per run (default 1)")
    parser.set_defaults(func=run)


def output_paths(files, out_dir):
    """{input: (label path, overlay path)}, unique, none of them an input."""
    def named(path, keep_extension):
        base = os.path.basename(path)
        stem = base if keep_extension else os.path.splitext(base)[0]
        return (os.path.join(out_dir, stem + LABEL_SUFFIX),
                os.path.join(out_dir, stem + OVERLAY_SUFFIX))

    inputs = {os.path.realpath(path) for path in files}
    plain = {path: named(path, False) for path in files}
    uses = Counter(os.path.realpath(out) for outs in plain.values() for out in outs)
    plan = {}
    for path, outs in plain.items():
        clash = any(uses[os.path.realpath(out)] > 1 or os.path.realpath(out) in inputs
                    for out in outs)
        plan[path] = named(path, True) if clash else outs
    planned = [os.path.realpath(out) for outs in plan.values() for out in outs]
    over_input = sorted(set(planned) & inputs)
    twice = sorted(out for out, n in Counter(planned).items() if n > 1)
    if over_input or twice:
        raise OutputExistsError(f"--out {out_dir}: outputs would replace inputs or each other "
                                f"({', '.join((over_input + twice)[:3])}); choose another --out")
    return plan


def run(args):
    options = inference_options(args)
    files = image_files(args.images)
    plan = output_paths(files, args.out)
    existing = [out for outs in plan.values() for out in outs if os.path.exists(out)]
    if existing and not args.overwrite:
        raise OutputExistsError(f"{existing[0]} already exists ({len(existing)} output files "
                                f"do); pass --overwrite to replace them or choose another --out")
    with measured_memory() as memory, \
            Segmenter(args.checkpoint, crf=crf.chosen_options(args), options=options) as segmenter:
        print(f"checkpoint: {describe_checkpoint(segmenter.checkpoint)}")
        print_precision_note(segmenter.spec.precision)
        os.makedirs(args.out, exist_ok=True)
        colors = segmenter.colors or voc_palette(len(segmenter.class_names))
        started = time.perf_counter()
        step = segmenter.images_per_run
        times = []
        for first in range(0, len(files), step):
            paths = files[first:first + step]
            rgbs = [as_rgb_array(path) for path in paths]
            start = time.perf_counter()
            results = segmenter.segment_batch(rgbs)
            times.append((time.perf_counter() - start) / len(paths))
            for path, rgb, (labels, _) in zip(paths, rgbs, results):
                label_path, overlay_path = plan[path]
                save_label_png(label_path, labels, colors)
                Image.fromarray(overlay(rgb, labels, colors, args.alpha)).save(overlay_path)
                print(f"{path}: {rgb.shape[1]}x{rgb.shape[0]} in {1000 * times[-1]:.1f} ms")
        elapsed = time.perf_counter() - started
    # The first batch also pays for graph optimisation; the median is the steady rate.
    print(f"{len(files)} images ({options.describe()}): {len(files) / elapsed:.2f} images/s "
          f"overall, median {1000 * float(np.median(times)):.1f} ms per image")
    print(memory_line(memory))
    return 0
