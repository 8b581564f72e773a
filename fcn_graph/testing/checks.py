"""Check a bilinear kernel, a kernel function or an upsampler factor by factor."""
import inspect
from dataclasses import dataclass

import numpy as np

from fcn_graph.errors import FcnGraphError, SettingsError
from fcn_graph.testing.diagnosis import (diagnose_kernel, diagnose_layout, diagnose_output,
                                         off_diagonal)
from fcn_graph.testing.reference import (BORDER_MODES, border_band, border_mask,
                                         reference_upsample, transposed_conv_same)
from fcn_graph.testing.report import CheckReport, FactorCheck, KernelFacts
from fcn_graph.upsampling import bilinear_kernel, kernel_size

DEFAULT_FACTORS = (2, 3, 4, 5, 6, 7, 8, 9, 16, 32)
DEFAULT_SIZES = ((5, 7), (6, 4))  # odd and even sides, not square
DEFAULT_CHANNELS = 3               # more than one, so that mixing channels shows
TOLERANCE = 1e-5
BATCH = 2
LAYOUTS = ("hwio", "oihw")


def skimage_reference(mode):
    return (f"scikit-image rescale(order=1, mode='{mode}', cval=0, anti_aliasing=False, "
            "clip=False)")


KERNEL_REFERENCE = ("bilinear_kernel(f, C) (k = 2f - f % 2, on the diagonal) and, as a SAME "
                    f"transposed convolution, {skimage_reference('constant')}")


class UserFunctionError(FcnGraphError, ValueError):
    """A kernel or upsampler that cannot be checked: it raises, cannot be called as documented,
    or returns something of the wrong shape."""


class KernelShapeError(UserFunctionError):
    """A kernel that is not 4-D, not square, or does not map C channels to C."""


def first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def function_name(fn):
    return getattr(fn, "__qualname__", None) or repr(fn)


def call_user(fn, args, call):
    """fn(*args); `call` names the call in the one-line error when that is impossible or raises."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: the call itself will tell
        signature = None
    if signature is not None:
        try:
            signature.bind(*args)
        except TypeError as error:
            raise UserFunctionError(f"{function_name(fn)}{signature} cannot be called as {call}: "
                                    f"{error}") from None
    try:
        return fn(*args)
    except Exception as error:  # the user's code may raise anything; name the call that did
        raise UserFunctionError(f"{call} raised {type(error).__name__}: "
                                f"{first_line(error)}") from error


def as_array(value, what):
    """A numpy array, TensorFlow eager tensor or PyTorch tensor as float64 numpy."""
    try:
        if hasattr(value, "detach"):  # PyTorch: may need grad or live on a GPU
            value = value.detach().cpu()
        if hasattr(value, "numpy"):
            value = value.numpy()
        return np.asarray(value, dtype=np.float64)
    except Exception as error:  # each framework has its own error for a value it cannot give
        raise UserFunctionError(f"{what} returned a {type(value).__name__}, not an array: "
                                f"{first_line(error)}") from error


def validated_factors(factors):
    factors = tuple(factors)
    if not factors or any(int(f) != f or f < 1 for f in factors):
        raise SettingsError(f"factors {factors}: give one or more positive integers")
    return tuple(int(f) for f in factors)


def validated_sizes(sizes):
    sizes = tuple(tuple(size) for size in sizes)
    if not sizes or any(len(s) != 2 or any(int(v) != v or v < 1 for v in s) for s in sizes):
        raise SettingsError(f"sizes {sizes}: give (height, width) pairs of positive integers")
    return tuple((int(h), int(w)) for h, w in sizes)


def probe_images(size, channels):
    """A batch of two (H, W, C) images in [0.5, 1.5): away from 0, so zero padding shows."""
    rng = np.random.default_rng([size[0], size[1], channels])
    return (rng.random((BATCH,) + tuple(size) + (channels,)) + 0.5).astype(np.float32)


@dataclass(frozen=True)
class Case:
    """One factor on one input size."""
    output_size: tuple
    max_diff: float | None
    border_diff: float | None
    interior_diff: float | None
    passed: bool
    causes: tuple


def measure(images, factor, observed, expected, mode, tolerance):
    """`observed` against `expected`; causes are looked for when they differ."""
    if observed.shape != expected.shape:
        return Case(observed.shape[1:3], None, None, None, False,
                    tuple(diagnose_output(images, factor, observed, mode, tolerance)))
    difference = np.abs(observed - expected).max(axis=(0, 3))
    band = border_mask(*difference.shape, border_band(factor))
    border = float(difference[band].max()) if band.any() else None
    interior = float(difference[~band].max()) if (~band).any() else None
    worst = float(difference.max())
    passed = worst <= tolerance
    causes = () if passed else tuple(diagnose_output(images, factor, observed, mode, tolerance))
    return Case(observed.shape[1:3], worst, border, interior, passed, causes)


def largest(values, none_if_any_none=False):
    if none_if_any_none and any(v is None for v in values):
        return None
    present = [v for v in values if v is not None]
    return max(present) if present else None


def combine(factor, sizes, cases, kernel=None, kernel_causes=(), kernel_passed=True):
    """One FactorCheck from the cases of every size.

    A cause found in the kernel explains its outputs too; an output cause
    must fit every failing size.
    """
    failing = [case for case in cases if not case.passed]
    output_causes = ()
    if failing:
        shared = set.intersection(*({c.name for c in case.causes} for case in failing))
        output_causes = tuple(c for c in failing[0].causes if c.name in shared)
    return FactorCheck(
        factor=factor, input_sizes=tuple(sizes),
        output_sizes=tuple(case.output_size for case in cases),
        max_diff=largest([c.max_diff for c in cases], none_if_any_none=True),
        border_diff=largest([c.border_diff for c in cases]),
        interior_diff=largest([c.interior_diff for c in cases]),
        passed=kernel_passed and not failing,
        causes=tuple(kernel_causes) or output_causes,
        kernel=kernel)


def read_kernel(kernel, layout, what):
    """(kernel as HWIO, the same array read in the other layout as HWIO)."""
    if layout not in LAYOUTS:
        raise SettingsError(f"layout {layout!r}: use 'hwio' ((k, k, C, C), TensorFlow) or "
                            "'oihw' ((C, C, k, k), PyTorch and Caffe)")
    array = as_array(kernel, what)
    if array.ndim != 4:
        raise KernelShapeError(f"{what} has shape {array.shape}: a kernel is 4-D, (k, k, C, C) "
                               "in hwio or (C, C, k, k) in oihw")
    readings = {"hwio": array, "oihw": array.transpose(2, 3, 1, 0)}
    taps_h, taps_w, channels_in, channels_out = readings[layout].shape
    if taps_h != taps_w:
        raise KernelShapeError(f"{what} is non-square: {taps_h}x{taps_w} taps (shape "
                               f"{array.shape} read as {layout}); a bilinear kernel is k x k")
    if channels_in != channels_out:
        raise KernelShapeError(f"{what} maps {channels_in} channels to {channels_out} (shape "
                               f"{array.shape} read as {layout}); a bilinear kernel is C -> C")
    other = "oihw" if layout == "hwio" else "hwio"
    return readings[layout], readings[other]


def kernel_check(kernel, other_reading, layout, factor, sizes, tolerance):
    channels = kernel.shape[2]
    size, expected = kernel.shape[0], kernel_size(factor)
    kernel_diff = (float(np.abs(kernel - bilinear_kernel(factor, channels)).max())
                   if size == expected else None)
    kernel_passed = kernel_diff is not None and kernel_diff <= tolerance
    # A kernel read in the wrong layout looks like every other bug at once.
    causes = () if kernel_passed else tuple(
        diagnose_layout(other_reading, factor, layout, tolerance)
        or diagnose_kernel(kernel, factor, tolerance))
    cases = []
    for input_size in sizes:
        images = probe_images(input_size, channels)
        cases.append(measure(images, factor, transposed_conv_same(images, kernel, factor),
                             reference_upsample(images, factor), "constant", tolerance))
    facts = KernelFacts(size, expected, kernel_diff, off_diagonal(kernel)[0])
    return combine(factor, sizes, cases, facts, causes, kernel_passed)


def check_bilinear_kernel(kernel, factor, layout="hwio", sizes=DEFAULT_SIZES,
                          tolerance=TOLERANCE):
    """Check one (k, k, C, C) (`layout='hwio'`) or (C, C, k, k) (`'oihw'`) kernel for `factor`.

    It must equal `fcn_graph.upsampling.bilinear_kernel(factor, C)` and, used
    as a stride-f transposed convolution cropped as TensorFlow's SAME, give
    scikit-image's rescale of the probe images. Raises KernelShapeError for
    an array that is not 4-D, square and C -> C.
    """
    (factor,) = validated_factors([factor])
    sizes = validated_sizes(sizes)
    hwio, other = read_kernel(kernel, layout, "the kernel")
    check = kernel_check(hwio, other, layout, factor, sizes, tolerance)
    return CheckReport(f"kernel {hwio.shape[0]}x{hwio.shape[0]}x{hwio.shape[2]}x{hwio.shape[3]} "
                       f"({layout})", KERNEL_REFERENCE, tolerance, (check,))


def check_kernel_function(fn, factors=DEFAULT_FACTORS, channels=DEFAULT_CHANNELS, layout="hwio",
                          sizes=DEFAULT_SIZES, tolerance=TOLERANCE):
    """`check_bilinear_kernel(fn(factor, channels), factor)` for every factor, in one report."""
    sizes = validated_sizes(sizes)
    checks = []
    for factor in validated_factors(factors):
        call = f"{function_name(fn)}({factor}, {channels})"
        hwio, other = read_kernel(call_user(fn, (factor, channels), call), layout, call)
        if hwio.shape[2] != channels:
            hint = ""
            if other.shape[2:] == (channels, channels) and other.shape[0] == other.shape[1]:
                hint = f"; read in the other layout it is {channels} -> {channels}: pass layout " \
                       f"'{'oihw' if layout == 'hwio' else 'hwio'}'"
            raise KernelShapeError(f"{call} returned a kernel for {hwio.shape[2]} channels, not "
                                   f"{channels} (read as {layout}){hint}")
        checks.append(kernel_check(hwio, other, layout, factor, sizes, tolerance))
    return CheckReport(f"kernel function {function_name(fn)} ({layout})", KERNEL_REFERENCE,
                       tolerance, tuple(checks))


def check_upsampler(fn, factors=DEFAULT_FACTORS, sizes=DEFAULT_SIZES, channels=DEFAULT_CHANNELS,
                    mode="constant", tolerance=TOLERANCE):
    """Check `fn(images, factor)`, images an (N, H, W, C) float32 array, for every factor.

    The result (numpy, TensorFlow or PyTorch, NHWC) must equal scikit-image's
    `rescale(order=1, mode=mode, cval=0, anti_aliasing=False, clip=False)`
    of each image, borders included. Raises UserFunctionError when `fn`
    cannot be called so, raises, or returns anything but (N, H', W', C).
    """
    if mode not in BORDER_MODES:
        raise SettingsError(f"mode {mode!r}: use one of {', '.join(BORDER_MODES)}")
    sizes = validated_sizes(sizes)
    checks = []
    for factor in validated_factors(factors):
        cases = []
        for input_size in sizes:
            images = probe_images(input_size, channels)
            call = f"{function_name(fn)}(images of shape {images.shape}, {factor})"
            observed = as_array(call_user(fn, (images.copy(), factor), call), call)
            n, height, width, _ = images.shape
            if observed.ndim != 4 or observed.shape[0] != n or observed.shape[3] != channels:
                raise UserFunctionError(
                    f"{call} returned shape {observed.shape}; an upsampler returns NHWC "
                    f"({n}, {height * factor}, {width * factor}, {channels})")
            cases.append(measure(images, factor, observed,
                                 reference_upsample(images, factor, mode), mode, tolerance))
        checks.append(combine(factor, sizes, cases))
    return CheckReport(f"upsampler {function_name(fn)}", skimage_reference(mode), tolerance,
                       tuple(checks))


def require(report):
    if not report.passed:
        raise AssertionError(str(report))
    return report


def assert_bilinear_kernel(kernel, factor, **options):
    """check_bilinear_kernel, raising AssertionError with the report when it fails."""
    return require(check_bilinear_kernel(kernel, factor, **options))


def assert_kernel_function(fn, **options):
    """check_kernel_function, raising AssertionError with the report when it fails."""
    return require(check_kernel_function(fn, **options))


def assert_upsampler(fn, **options):
    """check_upsampler, raising AssertionError with the report when it fails."""
    return require(check_upsampler(fn, **options))
