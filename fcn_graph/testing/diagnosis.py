"""The bilinear-upsampling bugs people ship, each as a numpy model of what it outputs.

A cause is named only when its model reproduces the checked numbers
exactly (to the check's tolerance), never because it is the closest guess.
"""
import numpy as np

from fcn_graph.testing.reference import (BORDER_MODES, border_band, half_pixel_coords,
                                         reference_upsample, sample_bilinear, same_crop,
                                         transposed_conv_full, window)
from fcn_graph.testing.report import Cause
from fcn_graph.upsampling import bilinear_filter_2d, bilinear_kernel, kernel_size

BORDER_WORDS = {
    "constant": "zero padding",
    "edge": "edge replication",
    "symmetric": "mirroring with the edge pixel repeated",
    "reflect": "mirroring about the edge pixel",
    "wrap": "wrapping around",
}


def pixels(count, kind=""):
    return f"{count:g} {kind}pixel" + ("" if count == 1 else "s")


def matches(actual, expected, tolerance):
    return actual.shape == expected.shape and float(np.abs(actual - expected).max()) <= tolerance


def factor_parity_filter(size):
    """The (size, size) filter whose centre follows the parity of (size + 1) // 2, not of size.

    That centre is the one of the factor's own kernel, so the result is the
    FCN filter of factor (size + 1) // 2 cut or zero-padded to `size`: equal
    to the right filter for sizes 4m and 4m + 1, wrong for 3, 6, 7, 10, ...
    """
    own = bilinear_filter_2d(kernel_size((size + 1) // 2))
    out = np.zeros((size, size), dtype=own.dtype)
    side = min(size, own.shape[0])
    out[:side, :side] = own[:side, :side]
    return out


def off_diagonal(kernel):
    """(value, i, j): the largest |w[:, :, i, j]| with i != j of an HWIO kernel."""
    magnitude = np.abs(kernel).max(axis=(0, 1))
    np.fill_diagonal(magnitude, 0)
    i, j = np.unravel_index(np.argmax(magnitude), magnitude.shape)
    return float(magnitude[i, j]), int(i), int(j)


def diagnose_kernel(kernel, factor, tolerance):
    """Causes found in an HWIO kernel meant for `factor`."""
    size, channels = kernel.shape[0], kernel.shape[2]
    expected = kernel_size(factor)
    causes = []
    mixing, i, j = off_diagonal(kernel)
    if mixing > tolerance:
        causes.append(Cause(
            "off-diagonal",
            f"input channel {i} feeds output channel {j} (|w| up to {mixing:.3g}): classes mix; "
            "every slice [:, :, i, j] with i != j must be zero"))
    diagonal = kernel[:, :, np.arange(channels), np.arange(channels)]
    right, parity = (np.broadcast_to(taps[..., None], diagonal.shape)
                     for taps in (bilinear_filter_2d(size), factor_parity_filter(size)))
    if not matches(parity, right, tolerance) and matches(diagonal, parity, tolerance):
        half = (size + 1) // 2
        wrong_centre = half - 1 if half % 2 else half - 0.5
        text = (f"the filter is centred by the parity of (k + 1) // 2 = {half} instead of the "
                f"kernel size k = {size}: it peaks at tap {wrong_centre:g} instead of "
                f"{(size - 1) / 2:g}; take the centre from k % 2")
        if size != expected:
            text += f" (and factor {factor} needs k = 2f - f % 2 = {expected})"
        causes.append(Cause("factor-parity-centre", text))
    elif size != expected and matches(diagonal, right, tolerance):
        causes.append(Cause(
            "kernel-size",
            f"the FCN filter of size {size}, but factor {factor} needs k = 2f - f % 2 = "
            f"{expected}; a {size}-tap filter at stride {factor} is not a bilinear upsampler"))
    return causes


def diagnose_layout(kernel_other_layout, factor, layout, tolerance):
    """A cause when the array read in the other layout is exactly the reference kernel."""
    reference = bilinear_kernel(factor, kernel_other_layout.shape[2])
    if not matches(kernel_other_layout, reference, tolerance):
        return []
    other = "oihw" if layout == "hwio" else "hwio"
    return [Cause("kernel-layout",
                  f"the array is the right kernel in {other} layout, read as {layout}; "
                  f"pass layout='{other}'")]


def corner_aligned(images, factor):
    """TF1 `resize_bilinear` (align_corners=False, half_pixel_centers=False): y samples y / f."""
    height, width = images.shape[1:3]
    return sample_bilinear(images, np.arange(height * factor) / factor,
                           np.arange(width * factor) / factor)


def align_corners(images, factor):
    """align_corners=True: output pixel y samples y * (n - 1) / (n * f - 1)."""
    def coords(size):
        out = size * factor
        return np.arange(out) * ((size - 1) / (out - 1) if out > 1 else 0.0)

    return sample_bilinear(images, coords(images.shape[1]), coords(images.shape[2]))


def diagnose_same_size(images, factor, observed, mode, tolerance):
    shift = (factor - 1) / 2
    if matches(observed, corner_aligned(images, factor), tolerance):
        return [Cause(
            "corner-aligned-sampling",
            "output pixel y samples input y / f, as TF1 resize_bilinear without "
            "half_pixel_centers, instead of (y + 0.5) / f - 0.5: everything moves "
            f"(f - 1) / 2 = {pixels(shift, 'output ')} up and left; use tf.image.resize or "
            "half_pixel_centers=True")]
    if matches(observed, align_corners(images, factor), tolerance):
        return [Cause(
            "align-corners",
            "output pixel y samples input y * (n - 1) / (n * f - 1) (align_corners=True): the "
            "first and last pixels are copied to the corners and the grid between them is "
            "stretched, instead of sampling (y + 0.5) / f - 0.5; use align_corners=False")]
    for other in BORDER_MODES:
        if other != mode and matches(observed, reference_upsample(images, factor, other),
                                     tolerance):
            return [Cause(
                "border-mode",
                f"the outer floor(f / 2) = {pixels(border_band(factor))} extend the image by "
                f"{BORDER_WORDS[other]} (mode='{other}') where the reference uses "
                f"{BORDER_WORDS[mode]} (mode='{mode}'); the interior is right")]
    return []


def diagnose_crop(images, factor, observed, tolerance):
    """Where in the uncropped FCN transposed convolution the observed output sits, if anywhere."""
    height, width, channels = images.shape[1:]
    size = kernel_size(factor)
    full = transposed_conv_full(images, bilinear_kernel(factor, channels), factor)
    rows, cols = observed.shape[1:3]
    right = same_crop(size, factor)
    last = max(full.shape[1] - rows, full.shape[2] - cols) + factor
    for start in range(-factor, last + 1):
        if start == right and (rows, cols) == (height * factor, width * factor):
            continue
        if matches(window(full, start, start, rows, cols), observed, tolerance):
            return start, right, full.shape[1:3]
    return None


def describe_crop(images, factor, observed, found):
    start, right, full_size = found
    height, width = images.shape[1:3]
    size = kernel_size(factor)
    wanted = f"{height * factor}x{width * factor}"
    got = f"{observed.shape[1]}x{observed.shape[2]}"
    if observed.shape[1:3] == full_size and start == 0:
        return (f"the uncropped ('VALID') transposed convolution, {got} = (n - 1) * f + k with "
                f"k = {size}: crop (k - f) // 2 = {pixels(right)} at the top and left to keep "
                f"n * f = {wanted} (TensorFlow padding='SAME', PyTorch padding=f // 2)")
    if got == wanted:
        return (f"a transposed convolution cropped (padded) by {pixels(start)} instead of "
                f"(k - f) // 2 = {right}: everything moves {pixels(abs(start - right))} "
                f"{'up and left' if start > right else 'down and right'}; use "
                "TensorFlow padding='SAME' or PyTorch padding=f // 2, output_padding=0")
    return (f"a transposed convolution cropped by {pixels(start)} to {got}, instead of by "
            f"(k - f) // 2 = {right} to n * f = {wanted}; use TensorFlow padding='SAME' with "
            "output size n * f, or PyTorch padding=f // 2, output_padding=0")


def diagnose_output(images, factor, observed, mode, tolerance):
    """Causes whose model equals `observed`, the upsampling of `images` by `factor`."""
    height, width = images.shape[1:3]
    if observed.shape[1:3] == (height * factor, width * factor):
        causes = diagnose_same_size(images, factor, observed, mode, tolerance)
        if causes:
            return causes
    found = diagnose_crop(images, factor, observed, tolerance)
    if found is None:
        return []
    return [Cause("transposed-conv-crop", describe_crop(images, factor, observed, found))]


def find_offset(images, factor, observed, tolerance):
    """Shift s, in output pixels (a multiple of 1/2, |s| <= f), with observed[y] = reference[y + s].

    Compared only where the shifted sample lies inside the image and
    outside the border band, so that border handling does not hide a shift.
    None when no non-zero shift fits.
    """
    height, width = images.shape[1:3]
    band = border_band(factor)
    candidates = sorted((s / 2 for s in range(-2 * factor, 2 * factor + 1) if s), key=abs)
    for shift in candidates:
        rows = half_pixel_coords(height, factor, shift)
        cols = half_pixel_coords(width, factor, shift)
        keep_rows = inside(rows, height, band)
        keep_cols = inside(cols, width, band)
        if not keep_rows.any() or not keep_cols.any():
            continue
        model = sample_bilinear(images, rows[keep_rows], cols[keep_cols])
        if matches(observed[:, keep_rows][:, :, keep_cols], model, tolerance):
            return shift
    return None


def inside(coords, size, band):
    keep = (coords >= 0) & (coords <= size - 1)
    keep[:band] = False
    keep[len(coords) - band:] = False
    return keep
