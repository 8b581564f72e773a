"""`fcn-graph bench`: forward and training-step speed, FLOP rate and memory of an FCN."""
import argparse
import json

from fcn_graph.bench import BenchOptions, format_report, run_benchmark
from fcn_graph.bench.runner import BENCH_VARIANTS
from fcn_graph.precision import PRECISIONS
from fcn_graph.training.config import NON_NEGATIVE, POSITIVE, at_least, checked_argument


def count(flag):
    return checked_argument(int, at_least(1), flag)


def precision_list(text):
    """'float32,bfloat16' -> ('float32', 'bfloat16'), each a known precision."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PRECISIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more of "
                                         f"{', '.join(PRECISIONS)}, comma-separated")
    return names


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="time an FCN in TensorFlow (and PyTorch eager with --torch)",
        description="Random weights and inputs in the reference geometry; each framework and "
                    "precision in a process of its own, in rounds. Prints medians after "
                    "warm-up, GFLOP/s from analytically counted FLOPs as a share of this "
                    "machine's matrix-product peak (measured in the same run), peak memory, "
                    "and ratios taken within each round.")
    parser.add_argument("--model", default="fcn8s", choices=BENCH_VARIANTS)
    parser.add_argument("--backbone", default="vgg16", choices=("vgg16", "vgg19"))
    parser.add_argument("--size", type=count("--size"), default=500,
                        help="square input side (default 500)")
    parser.add_argument("--batch", type=count("--batch"), default=1)
    parser.add_argument("--classes", type=count("--classes"), default=21)
    parser.add_argument("--steps", type=count("--steps"), default=5,
                        help="timed steps (median reported)")
    parser.add_argument("--warmup", type=checked_argument(int, NON_NEGATIVE, "--warmup"),
                        default=2, help="untimed steps before timing")
    parser.add_argument("--rounds", type=count("--rounds"), default=1,
                        help="measure every configuration this many times, alternating the "
                             "order; report medians (default 1)")
    parser.add_argument("--width", type=checked_argument(float, POSITIVE, "--width"),
                        default=1.0, help="backbone channel scale")
    parser.add_argument("--precision", type=precision_list, default=("float32",),
                        metavar="P[,P...]",
                        help=f"TensorFlow compute precision(s), from {', '.join(PRECISIONS)}; "
                             f"several are timed side by side (default float32). A precision "
                             f"this machine would emulate is named, not timed")
    parser.add_argument("--xla", default="auto", choices=("auto", "on", "off"),
                        help="training step compiled with XLA: auto times both and keeps the "
                             "faster")
    parser.add_argument("--recompute", action="store_true",
                        help="also measure each precision's network recomputing the first two "
                             "VGG blocks during backprop (train --recompute), in a process of "
                             "its own: its training step's time and peak beside the plain one's")
    parser.add_argument("--torch", action="store_true",
                        help="also time the same net in PyTorch eager and compare logits")
    parser.add_argument("--profile", action="store_true",
                        help="also print per-op time tables of a traced forward pass and "
                             "training step (first round)")
    parser.add_argument("--top", type=count("--top"), default=15,
                        help="ops listed per profile (default 15)")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    parser.set_defaults(func=run)


def run(args):
    options = BenchOptions(model=args.model, size=args.size, batch=args.batch,
                           steps=args.steps, warmup=args.warmup, width=args.width,
                           num_classes=args.classes, backbone=args.backbone, xla=args.xla,
                           torch=args.torch, precisions=args.precision, rounds=args.rounds,
                           profile=args.profile, recompute=args.recompute)
    report = run_benchmark(options)
    print(format_report(report, args.top))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0
