"""The `fcn-graph` command line.

Each module in `fcn_graph.commands` owns one sub-command and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Modules are discovered, so adding a command never edits this file.
"""
import argparse
import importlib
import os
import pkgutil
import sys

# TensorFlow's C++ start-up banner buries the command's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fcn_graph import commands  # noqa: E402  (after the logging default)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fcn-graph",
        description="Fully Convolutional Networks as explicit TensorFlow graphs.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as err:
        # The project's errors (bad weights, data, checkpoints, settings) say
        # what is wrong and how to fix it; a traceback would bury that.
        print(f"fcn-graph {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
