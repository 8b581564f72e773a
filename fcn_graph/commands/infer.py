"""`fcn-graph infer`: label PNGs and colour overlays for images or folders of images.

Nothing is written over: outputs are planned for every input first, named
`<stem>.png` and `<stem>_overlay.png`, or `<name with extension>.png` where
two inputs share a stem or an output would land on an input; an output
file that already exists is refused unless `--overwrite`.
"""
import os
from collections import Counter

import numpy as np
from PIL import Image

from fcn_graph.data import overlay, save_label_png, voc_palette
from fcn_graph.errors import OutputExistsError
from fcn_graph.inference import Segmenter, as_rgb_array, image_files

LABEL_SUFFIX, OVERLAY_SUFFIX = ".png", "_overlay.png"


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
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (never an input)")
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
    files = image_files(args.images)
    plan = output_paths(files, args.out)
    existing = [out for outs in plan.values() for out in outs if os.path.exists(out)]
    if existing and not args.overwrite:
        raise OutputExistsError(f"{existing[0]} already exists ({len(existing)} output files "
                                f"do); pass --overwrite to replace them or choose another --out")
    times = []
    with Segmenter(args.checkpoint, crf=args.crf) as segmenter:
        os.makedirs(args.out, exist_ok=True)
        colors = segmenter.colors or voc_palette(len(segmenter.class_names))
        for path in files:
            rgb = as_rgb_array(path)
            labels, _, seconds = segmenter.timed_segment(rgb)
            label_path, overlay_path = plan[path]
            save_label_png(label_path, labels, colors)
            Image.fromarray(overlay(rgb, labels, colors, args.alpha)).save(overlay_path)
            times.append(seconds)
            print(f"{path}: {rgb.shape[1]}x{rgb.shape[0]} in {1000 * seconds:.1f} ms")
    if len(times) > 1:
        # The first image also pays for graph optimisation; the median is the steady rate.
        print(f"{len(times)} images, median {1000 * float(np.median(times)):.1f} ms per image")
    return 0
