"""`fcn-graph demo`: the single-image overfit and bilinear upsampling of a photo."""
from fcn_graph.data.single_image import PHOTOS
from fcn_graph.demo.overfit import OverfitOptions, overfit
from fcn_graph.demo.upsample import upsample_photo
from fcn_graph.training.config import SCRATCH_WIDTH


def run_upsample(args):
    difference = upsample_photo(args.image, args.factor, args.out)
    print(f"wrote {args.out}")
    print(f"max |transposed conv - skimage rescale(order=1, mode='constant')| = {difference:.3g} "
          "(0..255 scale)")
    return 0


def run_overfit(args):
    options = OverfitOptions(steps=args.steps, width=args.width, lr=args.lr,
                             weights=args.weights, out=args.out, run_dir=args.run_dir,
                             seed=args.seed, photo=args.photo,
                             longest_side=args.longest_side or None)
    overfit(options)
    return 0


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

    defaults = OverfitOptions()
    overfit_parser = demos.add_parser(
        "overfit", help="overfit FCN-32s and FCN-8s on one photo and draw the comparison",
        description="Train FCN-32s and FCN-8s on a shipped photo until they memorise it, then "
                    "write a figure: input, ground truth, and each network's prediction with "
                    "and without dense-CRF refinement, each titled with its IoU.")
    overfit_parser.add_argument("--photo", default=defaults.photo, choices=sorted(PHOTOS),
                         help="shipped photo (default %(default)s; chelsea is the tutorials' cat)")
    overfit_parser.add_argument("--longest-side", type=int, default=defaults.longest_side,
                         help="resize the photo to this longest side (default %(default)s; "
                              "0 keeps its own size)")
    overfit_parser.add_argument("--weights", help="pretrained VGG16 file (from scratch when omitted)")
    overfit_parser.add_argument("--steps", type=int, default=defaults.steps,
                         help="training steps per network (default %(default)s)")
    overfit_parser.add_argument("--width", type=float, default=None,
                         help="backbone width (default 1.0 with --weights, else "
                              f"{SCRATCH_WIDTH})")
    overfit_parser.add_argument("--lr", type=float, default=None,
                         help="Adam learning rate (default: the trainer's for the start point)")
    overfit_parser.add_argument("--out", default=defaults.out, help="figure path (default %(default)s)")
    overfit_parser.add_argument("--run-dir", default=None,
                         help="where the two training runs go (default: a temporary folder)")
    overfit_parser.add_argument("--seed", type=int, default=defaults.seed)
    overfit_parser.set_defaults(func=run_overfit)
