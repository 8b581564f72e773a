"""Kernels and upsamplers written out independently of fcn_graph.testing's references: a
correct one of each kind and one with each bug people ship, for the kit's tests."""
import numpy as np


def filter_taps(size, centre):
    """The separable tent 1 - |i - centre| / ((size + 1) // 2), as the FCN reference writes it."""
    taps = 1 - np.abs(np.arange(size) - centre) / ((size + 1) // 2)
    return np.outer(taps, taps)


def diagonal_kernel(taps, channels):
    kernel = np.zeros(taps.shape + (channels, channels), np.float32)
    kernel[:, :, range(channels), range(channels)] = taps[..., None]
    return kernel


def right_kernel(factor, channels):
    size = 2 * factor - factor % 2
    return diagonal_kernel(filter_taps(size, (size - 1) / 2), channels)


def factor_parity_kernel(size, channels):
    """The centre from the parity of the factor (size + 1) // 2 instead of the size's."""
    factor = (size + 1) // 2
    centre = factor - 1 if factor % 2 == 1 else factor - 0.5
    return diagonal_kernel(filter_taps(size, centre), channels)


def kernel_2f_factor_parity(factor, channels):
    """As ported from FCN prototxts (k = 2f, e.g. k4 s2, k64 s32) with the factor-parity centre."""
    return factor_parity_kernel(2 * factor, channels)


def mixing_kernel(factor, channels):
    kernel = right_kernel(factor, channels)
    return kernel + kernel[:, :, :1, :1] * 0.1  # every class receives a tenth of class 0's tent


def lerp_upsample(images, factor, source, border="zero"):
    """Separable linear interpolation: output pixel y samples input source(y, n, f)."""
    out = images.astype(np.float64)
    for axis in (1, 2):
        size = out.shape[axis]
        coords = source(np.arange(size * factor), size, factor)
        low = np.floor(coords).astype(int)
        frac = (coords - low).reshape([-1 if a == axis else 1 for a in range(4)])
        padded = np.concatenate([np.take(out, [0], axis), out, np.take(out, [-1], axis)], axis)
        if border == "zero":
            padded = padded * np.pad(np.ones(size), 1).reshape([-1 if a == axis else 1
                                                               for a in range(4)])
        below = np.take(padded, np.clip(low, -1, size) + 1, axis)
        above = np.take(padded, np.clip(low + 1, -1, size) + 1, axis)
        out = below * (1 - frac) + above * frac
    return out.astype(np.float32)


def half_pixel(y, n, f):
    return (y + 0.5) / f - 0.5


def corner_aligned(y, n, f):      # TF1 resize_bilinear's legacy sampling
    return np.minimum(y / f, n - 1)


def align_corners(y, n, f):
    return y * (n - 1) / max(n * f - 1, 1)


def correct_upsampler(images, factor):
    return lerp_upsample(images, factor, half_pixel)


def edge_upsampler(images, factor):
    return lerp_upsample(images, factor, half_pixel, border="edge")


def legacy_upsampler(images, factor):
    return lerp_upsample(images, factor, corner_aligned, border="edge")


def align_corners_upsampler(images, factor):
    return lerp_upsample(images, factor, align_corners, border="edge")


def conv_transpose_valid(images, factor):
    """Transposed convolution by the FCN tent, stride f, nothing cropped: ((n-1)f + k)."""
    size = 2 * factor - factor % 2
    taps = filter_taps(size, (size - 1) / 2)
    n, h, w, c = images.shape
    out = np.zeros((n, (h - 1) * factor + size, (w - 1) * factor + size, c))
    for i in range(h):
        for j in range(w):
            out[:, i * factor:i * factor + size, j * factor:j * factor + size] += \
                images[:, i:i + 1, j:j + 1] * taps[None, :, :, None]
    return out


def conv_transpose_cropped_at(start_from_right):
    def upsample(images, factor):
        full = conv_transpose_valid(images, factor)
        start = (2 * factor - factor % 2 - factor) // 2 + start_from_right(factor)
        h, w = images.shape[1] * factor, images.shape[2] * factor
        return full[:, start:start + h, start:start + w]
    return upsample
