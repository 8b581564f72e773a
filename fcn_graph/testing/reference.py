"""What a correct bilinear upsampler produces, in numpy.

Two references, which agree everywhere (tests/test_upsampling.py proves it):

- scikit-image's `rescale(image, f, order=1, mode=mode, cval=0,
  anti_aliasing=False, clip=False)`: output pixel y samples input
  coordinate (y + 0.5) / f - 0.5 and interpolates linearly; outside the
  image `mode='constant'` blends with zeros.
- the FCN transposed convolution: stride f, the kernel of
  `fcn_graph.upsampling.bilinear_kernel` (size k = 2f - f % 2), cropped by
  (k - f) // 2 at the top and left to n * f pixels (TensorFlow's SAME).

Beyond them, this module holds the pieces the bug models are built from: a
transposed convolution that can be cropped anywhere and a bilinear sampler
at arbitrary source coordinates.
"""
import numpy as np
from skimage.transform import rescale

# scikit-image's names for the ways of extending an image past its border.
BORDER_MODES = ("constant", "edge", "symmetric", "reflect", "wrap")


def reference_upsample(images, factor, mode="constant"):
    """(N, H, W, C) -> (N, H*f, W*f, C) float64: scikit-image's bilinear rescale of each image."""
    return np.stack([
        rescale(image.astype(np.float64), factor, order=1, mode=mode, cval=0,
                anti_aliasing=False, clip=False, channel_axis=-1)
        for image in images])


def border_band(factor):
    """Width of the outer band where the border mode matters: floor(f / 2) output pixels.

    Output pixel y samples (y + 0.5) / f - 0.5, which lies before the first
    input pixel exactly for the first floor(f / 2) rows (and after the last
    one for the last floor(f / 2)).
    """
    return factor // 2


def border_mask(height, width, band):
    """Boolean (height, width) mask, True on the outer `band` pixels."""
    mask = np.ones((height, width), dtype=bool)
    mask[band:height - band, band:width - band] = False
    return mask


def transposed_conv_full(images, kernel, factor):
    """Uncropped ('VALID') transposed convolution of NHWC `images` with an HWIO `kernel`.

    Output (N, (H-1)*f + kh, (W-1)*f + kw, O). Each tap (a, b) is split into a
    block offset a // f and a phase a % f, so the overlap-add is a handful of
    block shifts instead of a loop over every tap.
    """
    n, height, width, _ = images.shape
    kh, kw, _, channels_out = kernel.shape
    blocks_h, blocks_w = -(-kh // factor), -(-kw // factor)
    padded = np.zeros((blocks_h * factor, blocks_w * factor) + kernel.shape[2:])
    padded[:kh, :kw] = kernel
    taps = np.einsum("nhwc,abco->nhawbo", images.astype(np.float64), padded)
    taps = taps.reshape(n, height, blocks_h, factor, width, blocks_w, factor, channels_out)
    out = np.zeros((n, height + blocks_h - 1, factor, width + blocks_w - 1, factor, channels_out))
    for by in range(blocks_h):
        for bx in range(blocks_w):
            out[:, by:by + height, :, bx:bx + width] += taps[:, :, by, :, :, bx]
    out = out.reshape(n, (height + blocks_h - 1) * factor, (width + blocks_w - 1) * factor,
                      channels_out)
    return out[:, :(height - 1) * factor + kh, :(width - 1) * factor + kw]


def window(array, top, left, height, width):
    """array[:, top:top+height, left:left+width], reading zeros outside the array."""
    n, rows, cols = array.shape[:3]
    out = np.zeros((n, height, width) + array.shape[3:], dtype=array.dtype)
    r0, r1 = max(top, 0), min(top + height, rows)
    c0, c1 = max(left, 0), min(left + width, cols)
    if r0 < r1 and c0 < c1:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = array[:, r0:r1, c0:c1]
    return out


def same_crop(kernel_size, factor):
    """Where TensorFlow's SAME transposed convolution starts in the uncropped output."""
    return max(kernel_size - factor, 0) // 2


def transposed_conv_same(images, kernel, factor):
    """Transposed convolution to (N, H*f, W*f, O) as TensorFlow's SAME padding crops it."""
    start = same_crop(kernel.shape[0], factor)
    full = transposed_conv_full(images, kernel, factor)
    return window(full, start, start, images.shape[1] * factor, images.shape[2] * factor)


def sample_bilinear(images, rows, cols):
    """`images` interpolated at fractional source coordinates rows x cols, edges replicated."""
    def neighbours(coords, size):
        coords = np.clip(np.asarray(coords, dtype=np.float64), 0, size - 1)
        low = np.floor(coords).astype(int)
        return low, np.minimum(low + 1, size - 1), coords - low

    top, bottom, dy = neighbours(rows, images.shape[1])
    left, right, dx = neighbours(cols, images.shape[2])
    images = images.astype(np.float64)
    dy, dx = dy[None, :, None, None], dx[None, None, :, None]
    lines = images[:, top] * (1 - dy) + images[:, bottom] * dy
    return lines[:, :, left] * (1 - dx) + lines[:, :, right] * dx


def half_pixel_coords(size, factor, shift=0.0):
    """Source coordinate of each of the size*f output pixels, moved by `shift` output pixels."""
    return (np.arange(size * factor) + 0.5 + shift) / factor - 0.5
