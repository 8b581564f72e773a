"""`fcn-graph weights inspect|convert|verify`: look into, convert and check weight files."""
import os

from fcn_graph.errors import OutputExistsError
from fcn_graph.training.config import parse_rgb_mean
from fcn_graph.weights import WeightsError, detect_format, load_weights
from fcn_graph.weights.canonical import save_npz
from fcn_graph.weights.load import check_exists
from fcn_graph.weights.manifest import find_entry, load_manifest, verify


def add_weight_source_arguments(parser):
    """The flags that say how to read a weight file, as `load_weight_source` takes them."""
    parser.add_argument("--channel-order", type=str.upper, choices=("RGB", "BGR"),
                        help="channel order the weights were trained on; required for files "
                             "that do not record it (SavedModels, non-slim checkpoints)")
    parser.add_argument("--mean", type=parse_rgb_mean, metavar="R,G,B",
                        help="mean pixel subtracted in training, given as R,G,B whatever the "
                             "channel order; required with --channel-order for such files")
    parser.add_argument("--matconvnet-swap-hw", action="store_true",
                        help="transpose MatConvNet kernels (1, 0, 2, 3), as some ports do "
                             "(wrong for the published .mat files; for reproducing them)")


def weight_source_options(args):
    """The `load_weights` keywords that the flags of `add_weight_source_arguments` set."""
    return {"channel_order": args.channel_order, "mean": args.mean,
            "matconvnet_swap_hw": args.matconvnet_swap_hw}


def load_weight_source(path, args, arch=None):
    """`load_weights` with the options of `add_weight_source_arguments`."""
    return load_weights(path, arch=arch, **weight_source_options(args))


def inspect(args):
    weights = load_weight_source(args.file, args, arch=args.arch)
    print(f"file:          {args.file}")
    print(f"format:        {detect_format(args.file)} ({weights.source})")
    print(f"arch:          {weights.arch}")
    print(f"channel order: {weights.channel_order}")
    print(f"mean:          {', '.join(f'{m:.4f}' for m in weights.mean)} "
          f"({', '.join(weights.channel_order)})")
    print("layers:")
    for name, (kernel, bias) in weights.layers.items():
        bias_text = "no bias" if bias is None else f"bias {bias.shape[0]}"
        print(f"  {name:<14} {str(kernel.shape):<22} {bias_text}")
    missing = weights.missing_backbone_layers()
    if missing:
        print(f"missing:       {', '.join(missing)}")
    if weights.ignored:
        print(f"ignored:       {', '.join(weights.ignored)}")
    print(f"parameters:    {weights.num_parameters:,}")
    return 0


def convert(args):
    if not str(args.out).endswith(".npz"):
        raise WeightsError(f"{args.out}: the converted file must be named *.npz")
    if os.path.exists(args.out) and not args.overwrite:
        raise OutputExistsError(f"{args.out}: already exists; pass --overwrite to replace it")
    weights = load_weight_source(args.file, args, arch=args.arch)
    save_npz(weights, args.out)
    differing = load_weights(args.out).mismatches(weights)
    if differing:
        raise WeightsError(f"{args.out}: layers {', '.join(differing)} did not read back "
                           f"identically")
    print(f"wrote {args.out}: {weights.arch}, {len(weights.layers)} layers, "
          f"{weights.channel_order} mean {weights.mean}")
    return 0


def verify_command(args):
    check_exists(args.file)
    entry = find_entry(load_manifest(args.manifest), args.file, args.name)
    checks = verify(args.file, entry)
    for check, passed, detail in checks:
        print(f"{'ok  ' if passed else 'FAIL'} {check:<12} {detail}")
    unchecked = [key for key in ("size", "md5", "sha1", "sha256") if entry.get(key) is None]
    if unchecked:
        print(f"     not documented, not checked: {', '.join(unchecked)}")
    print(f"source: {entry.get('url') or 'no public address recorded'}")
    return 0 if all(passed for _, passed, _ in checks) else 1


def register(subparsers):
    parser = subparsers.add_parser("weights", help="inspect, convert and verify weight files")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("inspect", help="format, depth, layers, input convention")
    p.add_argument("file")
    p.add_argument("--arch", choices=("vgg16", "vgg19"), help="refuse a file of another depth")
    add_weight_source_arguments(p)
    p.set_defaults(func=inspect)

    p = actions.add_parser("convert", help="rewrite any supported file as a plain .npz")
    p.add_argument("file")
    p.add_argument("out", help="output path, *.npz")
    p.add_argument("--arch", choices=("vgg16", "vgg19"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_weight_source_arguments(p)
    p.set_defaults(func=convert)

    p = actions.add_parser("verify", help="check a downloaded file against the manifest")
    p.add_argument("file")
    p.add_argument("--name", help="manifest entry, when the file was renamed")
    p.add_argument("--manifest", help="another manifest.json")
    p.set_defaults(func=verify_command)
