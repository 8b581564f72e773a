"""`fcn-graph bench`: forward and training-step speed, FLOP rate and memory of an FCN."""
import json

from fcn_graph.bench import BenchOptions, format_report, run_benchmark
from fcn_graph.fcn import VARIANTS


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="time an FCN in TensorFlow (and PyTorch eager with --torch)",
        description="Random weights and inputs in the reference geometry; prints medians after "
                    "warm-up, GFLOP/s from analytically counted FLOPs and peak memory.")
    parser.add_argument("--model", default="fcn8s", choices=sorted(VARIANTS))
    parser.add_argument("--backbone", default="vgg16", choices=("vgg16", "vgg19"))
    parser.add_argument("--size", type=int, default=500, help="square input side (default 500)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    parser.add_argument("--width", type=float, default=1.0, help="backbone channel scale")
    parser.add_argument("--xla", default="auto", choices=("auto", "on", "off"),
                        help="training step compiled with XLA: auto times both and keeps the "
                             "faster")
    parser.add_argument("--torch", action="store_true",
                        help="also time the same net in PyTorch eager and compare logits")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    parser.set_defaults(func=run)


def run(args):
    options = BenchOptions(model=args.model, size=args.size, batch=args.batch,
                           steps=args.steps, warmup=args.warmup, width=args.width,
                           num_classes=args.classes, backbone=args.backbone, xla=args.xla,
                           torch=args.torch)
    report = run_benchmark(options)
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0
