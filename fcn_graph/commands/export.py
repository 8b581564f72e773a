"""`fcn-graph export`: a SavedModel and optionally a frozen GraphDef of a trained run."""
from fcn_graph.export import export_run


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a trained run as a SavedModel (and a frozen graph)",
        description="Signature 'serving_default': input 'image' (uint8 [H, W, 3] RGB) -> "
                    "'labels' (int32 [H, W]) and 'probabilities' (float32 [H, W, C]).")
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint prefix")
    parser.add_argument("--out", required=True, help="SavedModel directory (must not exist)")
    parser.add_argument("--frozen", metavar="FILE.pb",
                        help="also write a frozen GraphDef (weights as constants) here")
    parser.set_defaults(func=run)


def run(args):
    result = export_run(args.checkpoint, args.out, frozen=args.frozen)
    print(f"SavedModel of {result['checkpoint']} written to {result['saved_model']}")
    if result["frozen"]:
        print(f"frozen graph written to {result['frozen']} "
              f"(input 'image:0', outputs 'labels:0', 'probabilities:0')")
    return 0
