"""`fcn-graph demo`: the single-image overfit and bilinear upsampling of a photo.

`add_overfit_arguments` and `run_overfit` are shared with
scripts/single_image_fcn32s.py, which runs the same demo.
"""
import argparse

from fcn_graph import crf
from fcn_graph.data.single_image import PHOTOS
from fcn_graph.demo.overfit import PRESETS, SMOKE, OverfitOptions, overfit
from fcn_graph.demo.upsample import upsample_photo
from fcn_graph.training.config import SCRATCH_WIDTH


def run_upsample(args):
    difference = upsample_photo(args.image, args.factor, args.out)
    print(f"wrote {args.out}")
    print(f"max |transposed conv - skimage rescale(order=1, mode='constant')| = {difference:.3g} "
          "(0..255 scale)")
    return 0


def run_overfit(args):
    preset = PRESETS[args.preset]
    options = OverfitOptions(preset=args.preset, steps=args.steps, width=args.width, lr=args.lr,
                             weights=args.weights, out=args.out, run_dir=args.run_dir,
                             seed=args.seed, photo=args.photo, longest_side=args.longest_side,
                             crf_options=crf.chosen_options(args, preset.crf),
                             smoke=args.smoke)
    overfit(options)
    return 0


def overfit_main(argv=None):
    """The overfit demo as scripts/single_image_fcn32s.py runs it: the tutorial by default."""
    parser = argparse.ArgumentParser(
        prog="single_image_fcn32s",
        description="The single-image FCN-32s tutorial: FCN-32s from TF-slim's VGG16 learns "
                    "the cat against everything else in 10 Adam steps, then a dense CRF "
                    "refines it (`fcn-graph demo overfit` runs the same).",
        epilog="Settings, deviations and the figure: scripts/README.md")
    add_overfit_arguments(parser)
    return run_overfit(parser.parse_args(argv))


def add_overfit_arguments(parser):
    """The single-image overfit's flags; unset ones take the chosen preset's values."""
    tutorial, comparison = PRESETS["tutorial"], PRESETS["comparison"]
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="tutorial",
        help="tutorial (default): the single-image FCN-32s tutorial, two classes, "
             f"{tutorial.steps} Adam steps at 1e-4 on the summed loss from --weights, its "
             f"CRF; comparison: FCN-32s and FCN-8s from scratch, {comparison.steps} steps")
    parser.add_argument("--photo", choices=sorted(PHOTOS),
                        help=f"shipped photo (tutorial: {tutorial.photo}, the tutorials' cat; "
                             f"comparison: {comparison.photo})")
    parser.add_argument("--longest-side", type=int,
                        help="resize the photo to this longest side, 0 for its own size "
                             f"(tutorial: own size; comparison: {comparison.longest_side})")
    parser.add_argument("--weights", help="pretrained VGG16 file (the tutorial's: TF-slim "
                                          "vgg_16.ckpt)")
    parser.add_argument("--steps", type=int, help="training steps per network")
    parser.add_argument("--width", type=float, default=None,
                        help=f"backbone width (default 1.0 with --weights, else {SCRATCH_WIDTH})")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    parser.add_argument("--out", default=OverfitOptions.out,
                        help="figure path (default %(default)s)")
    parser.add_argument("--run-dir", default=None,
                        help="where the training runs go (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=OverfitOptions.seed)
    parser.add_argument("--smoke", action="store_true",
                        help=f"the same code path at width {SMOKE['width']:g} on a "
                             f"{SMOKE['longest_side']}-pixel photo for {SMOKE['steps']} steps, "
                             "without weights")
    crf.add_arguments(parser)


def register(subparsers):
    parser = subparsers.add_parser("demo", help="demonstrations: single-image overfit, upsampling")
    demos = parser.add_subparsers(dest="demo", metavar="DEMO", required=True)

    upsample = demos.add_parser(
        "upsample", help="upsample a photo with the bilinear transposed convolution",
        description="Upsample IMAGE by an integer FACTOR with the FCN's bilinear transposed "
                    "convolution, write OUT, and print the largest difference from "
                    "scikit-image's bilinear rescale.")
    upsample.add_argument("image", metavar="IMAGE", help="photo to upsample (JPEG, PNG, ...)")
    upsample.add_argument("factor", metavar="FACTOR", type=int, help="integer upsampling factor")
    upsample.add_argument("out", metavar="OUT.png", help="where to write the upsampled photo")
    upsample.set_defaults(func=run_upsample)

    overfit_parser = demos.add_parser(
        "overfit", help="overfit an FCN on one photo, refine with a dense CRF, draw the figure",
        description="Train on a shipped photo until the network memorises it, then write a "
                    "figure: input, ground truth, and each network's prediction with and "
                    "without dense-CRF refinement, each titled with its IoU. By default the "
                    "single-image FCN-32s tutorial (needs --weights vgg_16.ckpt).")
    add_overfit_arguments(overfit_parser)
    overfit_parser.set_defaults(func=run_overfit)
