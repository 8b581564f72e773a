"""`fcn-graph kernel check|compare`: test a bilinear kernel or upsampler; compare the usual ones."""
import argparse
import importlib
import importlib.util
import json
import os
import sys

from fcn_graph.errors import UsageError
from fcn_graph.testing import (DEFAULT_CHANNELS, DEFAULT_FACTORS, UserFunctionError,
                               check_kernel_function, check_upsampler)
from fcn_graph.testing.checks import first_line
from fcn_graph.testing.compare import (DEFAULT_COMPARE_FACTORS, compare_upsamplers,
                                       format_comparison)
from fcn_graph.testing.reference import BORDER_MODES


def parse_factors(text):
    """'2-9,16,32' -> (2, 3, ..., 9, 16, 32)."""
    factors = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            factors += range(int(low), int(high or low) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give factors as a list of integers and ranges, e.g. 2-9,16,32") from None
    if not factors or min(factors) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: factors are positive integers")
    return tuple(factors)


def format_factors(factors):
    return ",".join(str(f) for f in factors)


def import_file(path):
    """Import a .py file, its folder first on sys.path so that its own imports work."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_module_from(source):
    """The module of a .py path or a module name."""
    is_file = source.endswith(".py")
    if is_file and not os.path.isfile(source):
        raise UserFunctionError(f"{source}: no such file; give the path of a .py file or an "
                                "importable module name")
    try:
        return import_file(source) if is_file else importlib.import_module(source)
    except Exception as error:  # the user's module may fail in any way while importing
        raise UserFunctionError(f"{source}: importing it failed with {type(error).__name__}: "
                                f"{first_line(error)}") from error


def load_function(spec):
    """The function named by PATH.py:FUNCTION or MODULE:FUNCTION."""
    source, _, name = spec.rpartition(":")
    if not source or not name:
        raise UsageError(f"{spec}: name the function as PATH.py:FUNCTION or MODULE:FUNCTION")
    function = getattr(import_module_from(source), name, None)
    if not callable(function):
        raise UserFunctionError(f"{source} has no function {name!r}; name one it defines")
    return function


def run_check(args):
    if args.kind == "kernel" and args.mode:
        raise UsageError("--mode applies to --kind upsampler; a transposed convolution always "
                         "pads with zeros")
    if args.kind == "upsampler" and args.layout:
        raise UsageError("--layout applies to --kind kernel")
    function = load_function(args.function)
    if args.kind == "kernel":
        report = check_kernel_function(function, factors=args.factors, channels=args.channels,
                                       layout=args.layout or "hwio")
    else:
        report = check_upsampler(function, factors=args.factors, channels=args.channels,
                                 mode=args.mode or "constant")
    print(report)
    return 0 if report.passed else 1


def run_compare(args):
    comparison = compare_upsamplers(factors=args.factors)
    print(format_comparison(comparison))
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(comparison, f, indent=2)
            f.write("\n")
        print(f"\nwrote {args.json}")
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "kernel", help="check your bilinear kernel or upsampler; compare the usual upsamplers",
        description="Bilinear upsampling against the FCN kernel and scikit-image's rescale.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    check = actions.add_parser(
        "check", help="check a kernel or upsampler function of yours, factor by factor",
        description="Import FUNCTION from a .py file or module and check it for every factor: "
                    "--kind kernel calls FUNCTION(factor, channels) and expects the FCN kernel "
                    "(fcn_graph.upsampling.bilinear_kernel); --kind upsampler calls "
                    "FUNCTION(images, factor) with NHWC float32 images and expects "
                    "scikit-image's rescale(order=1, mode=MODE, cval=0, anti_aliasing=False, "
                    "clip=False). Prints the per-factor table and the known bug that fits; "
                    "exits 0 when every factor matches, 1 otherwise.")
    check.add_argument("function", metavar="PATH_OR_MODULE:FUNCTION",
                       help="e.g. my_kernels.py:bilinear or mypackage.layers:upsample")
    check.add_argument("--kind", choices=("kernel", "upsampler"), default="kernel",
                       help="what FUNCTION returns (default %(default)s)")
    check.add_argument("--layout", choices=("hwio", "oihw"),
                       help="kernel layout: hwio (k, k, C, C; TensorFlow, the default) or oihw "
                            "(C, C, k, k; PyTorch, Caffe)")
    check.add_argument("--mode", choices=BORDER_MODES,
                       help="upsampler border handling to expect (default constant: zero "
                            "padding, as the transposed convolution)")
    check.add_argument("--factors", type=parse_factors, default=DEFAULT_FACTORS,
                       help=f"factors and ranges (default {format_factors(DEFAULT_FACTORS)})")
    check.add_argument("--channels", type=int, default=DEFAULT_CHANNELS,
                       help="channels (classes) to check with (default %(default)s)")
    check.set_defaults(func=run_check)

    compare = actions.add_parser(
        "compare", help="compare the TF, Keras, scikit-image, PIL and PyTorch upsamplers with ours",
        description="Run every bilinear upsampler installed here on the same images and compare "
                    "each with the FCN transposed convolution: equal, different only in the "
                    "border band of width floor(f / 2), offset by some pixels, or other.")
    compare.add_argument("--factors", type=parse_factors, default=DEFAULT_COMPARE_FACTORS,
                         help=f"factors (default {format_factors(DEFAULT_COMPARE_FACTORS)})")
    compare.add_argument("--json", metavar="OUT", help="also write the comparison as JSON")
    compare.set_defaults(func=run_compare)
