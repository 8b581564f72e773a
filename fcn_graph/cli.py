"""The `fcn-graph` command line.

Each module in `fcn_graph.commands` owns one sub-command and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.

Errors: every error a user can cause is an `FcnGraphError`; it is printed
as one line naming the command and exits 1 (usage errors 2, as argparse's
own). Anything else is a bug and keeps its traceback.
"""
import argparse
import sys

from fcn_graph import startup  # noqa: F401  (first: TensorFlow loads quietly)
from fcn_graph.commands import (bench, cluster, data, demo, eval, export, infer, kernel, train,
                                weights)
from fcn_graph.errors import FcnGraphError

COMMANDS = (train, cluster, eval, infer, export, data, weights, demo, bench, kernel)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fcn-graph",
        description="Fully Convolutional Networks as explicit TensorFlow graphs.")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except FcnGraphError as err:
        # The message says what is wrong and how to fix it; a traceback would bury that.
        message = " ".join(str(err).split())
        print(f"fcn-graph {args.command}: error: {message}", file=sys.stderr)
        return err.exit_status


if __name__ == "__main__":
    sys.exit(main())
