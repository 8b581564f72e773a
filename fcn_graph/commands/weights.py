"""`fcn-graph weights inspect|convert|verify`: look into, convert and check weight files."""
from fcn_graph.weights import WeightsError, detect_format, load_weights
from fcn_graph.weights.canonical import save_npz
from fcn_graph.weights.manifest import find_entry, load_manifest, verify


def inspect(args):
    weights = load_weights(args.file, arch=args.arch)
    print(f"file:          {args.file}")
    print(f"format:        {detect_format(args.file)} ({weights.source})")
    print(f"arch:          {weights.arch}")
    print(f"channel order: {weights.channel_order}")
    print(f"mean:          {', '.join(f'{m:.4f}' for m in weights.mean)}")
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
    weights = load_weights(args.file, arch=args.arch)
    save_npz(weights, args.out)
    differing = load_weights(args.out).mismatches(weights)
    if differing:
        raise WeightsError(f"{args.out}: layers {', '.join(differing)} did not read back "
                           f"identically")
    print(f"wrote {args.out}: {weights.arch}, {len(weights.layers)} layers, "
          f"{weights.channel_order} mean {weights.mean}")
    return 0


def verify_command(args):
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
    p.set_defaults(func=inspect)

    p = actions.add_parser("convert", help="rewrite any supported file as a plain .npz")
    p.add_argument("file")
    p.add_argument("out", help="output path, *.npz")
    p.add_argument("--arch", choices=("vgg16", "vgg19"))
    p.set_defaults(func=convert)

    p = actions.add_parser("verify", help="check a downloaded file against the manifest")
    p.add_argument("file")
    p.add_argument("--name", help="manifest entry, when the file was renamed")
    p.add_argument("--manifest", help="another manifest.json")
    p.set_defaults(func=verify_command)
