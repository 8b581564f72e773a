"""Images larger than a network's input, a tile at a time, and images of several sizes in one batch.

`predict_fn` throughout is any callable that takes a float32 NHWC batch and
returns per-pixel scores of the same height and width, (N, h, w, C): a
session run, a TFLite interpreter, a numpy function. Scores are logits
(`from_logits=True`, turned into probabilities with a softmax per tile) or
probabilities; the results here are always probabilities, float32 HxWxC.
`resized` is the bilinear resampling shared by test-time augmentation and
the TFLite tools.
"""
import numpy as np
from scipy.special import softmax
from skimage.transform import resize

from fcn_graph.errors import SettingsError


def predict_probabilities(predict_fn, batch, from_logits=False):
    """predict_fn(batch) as float64 probabilities, after checking it kept the batch's pixel grid."""
    batch = np.asarray(batch, dtype=np.float32)
    scores = np.asarray(predict_fn(batch), dtype=np.float64)
    if scores.ndim != 4 or scores.shape[:3] != batch.shape[:3]:
        raise ValueError(f"predict_fn must return (N, H, W, classes) scores for a batch of shape "
                         f"{batch.shape}, got {scores.shape}")
    return softmax(scores, axis=-1) if from_logits else scores


def resized(array, height, width, anti_aliasing):
    """HxWxC `array` resampled bilinearly to height x width (unchanged if it is that size)."""
    if array.shape[:2] == (height, width):
        return array
    return resize(array, (height, width), order=1, mode="edge", anti_aliasing=anti_aliasing,
                  preserve_range=True)


def pad_to(image, height, width, fill):
    """`image` (HxWxC) padded at the bottom and right to height x width with `fill`.

    `fill` is a scalar or one value per channel.
    """
    image = np.asarray(image)
    padded = np.empty((height, width, image.shape[-1]), np.float32)
    padded[...] = np.asarray(fill, np.float32)
    padded[:image.shape[0], :image.shape[1]] = image
    return padded


def pad_batch(images, fill):
    """Images of different sizes as one float32 batch padded to the largest, and their sizes.

    Returns (batch (N, max H, max W, C), [(h, w) per image]); each image sits at
    the top left of its slot and the rest is `fill`, the dataset's mean colour
    being the least disturbing choice for a network that subtracts it. Give
    the network's output and the sizes to `crop_batch`.

    The crops equal running each image alone only where the network's output
    at a pixel does not depend on the padding: exactly for a network whose
    receptive field never reaches the padded region or that treats the image
    border as `fill` itself, approximately for an FCN, whose large receptive
    field and zero padding see the fill near the bottom and right edges.
    """
    images = [np.asarray(image) for image in images]
    if not images:
        raise ValueError("pad_batch needs at least one image")
    if len({image.shape[-1] for image in images}) != 1 or any(i.ndim != 3 for i in images):
        raise ValueError(f"images must all be HxWxC with the same C, got shapes "
                         f"{[image.shape for image in images]}")
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    batch = np.stack([pad_to(image, height, width, fill) for image in images])
    return batch, [image.shape[:2] for image in images]


def crop_batch(outputs, sizes):
    """The per-image outputs of a batch built by `pad_batch`, cropped back to each image's size."""
    return [np.asarray(output)[:height, :width] for output, (height, width) in zip(outputs, sizes)]


def tiled_probabilities(predict_fn, image, tile, overlap=0, batch_size=1, stride=1, margin=None,
                        fill=None, from_logits=False):
    """Per-pixel probabilities (float32 HxWxC) of an image segmented tile by tile.

    `tile` is (height, width) or one size for both, `overlap` (pixels, one
    size or a pair) how much neighbouring tiles share. Tiles start every
    `tile - overlap` pixels, rounded down to a multiple of the network's
    `stride` so that every tile but the last sees the whole image's pooling
    grid; the last tile of a row or column is aligned to the image border.
    Tiles run `batch_size` at a time.

    Blending: a tile's output is trusted except within `margin` pixels
    (default overlap // 4) of an edge that lies inside the image, where its
    receptive field is cut off by the tile. Over the trusted part each tile
    weighs its pixels with a separable half-sine window, positive everywhere
    and falling toward the edges, so neighbouring tiles cross-fade; as
    2 * margin <= overlap, the trusted parts cover the image and every
    pixel's total weight is positive. The result therefore equals whole-image
    inference wherever the network's receptive field (its radius in pixels)
    is no larger than `margin`.

    An image smaller than the tile along an axis is run whole along it (the
    tile shrinks to the image), which keeps that equality; with `fill` (a
    value or a colour) it is instead padded at the bottom/right to the tile
    size with `fill` and the output cropped back, for networks that accept
    only one input size.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be HxWxC, got shape {image.shape}")
    tile_h, tile_w = size_pair(tile, "--tile")
    overlaps = size_pair(overlap, "--overlap", least=0)
    margins = tuple(o // 4 for o in overlaps) if margin is None else \
        size_pair(margin, "--margin", least=0)
    batch_size = at_least(batch_size, 1, "--batch-size")
    stride = at_least(stride, 1, "stride")
    steps = [tile_steps(t, o, m, stride) for t, o, m in zip((tile_h, tile_w), overlaps, margins)]
    height, width = image.shape[:2]
    if fill is not None:
        image = pad_to(image, max(height, tile_h), max(width, tile_w), fill)
    full_h, full_w = image.shape[:2]
    tile_h, tile_w = min(tile_h, full_h), min(tile_w, full_w)
    rows = axis_windows(full_h, tile_h, steps[0], margins[0])
    columns = axis_windows(full_w, tile_w, steps[1], margins[1])
    tiles = [(top, left, row_weight, column_weight)
             for top, row_weight in rows for left, column_weight in columns]
    # float32 accumulators: the whole image's probabilities are the memory that counts.
    total = weight = None
    for first in range(0, len(tiles), batch_size):
        part = tiles[first:first + batch_size]
        batch = np.stack([image[top:top + tile_h, left:left + tile_w] for top, left, _, _ in part])
        outputs = predict_probabilities(predict_fn, batch, from_logits)
        if total is None:
            total = np.zeros((full_h, full_w, outputs.shape[-1]), np.float32)
            weight = np.zeros((full_h, full_w), np.float32)
        for (top, left, row_weight, column_weight), output in zip(part, outputs):
            window = np.outer(row_weight, column_weight)
            total[top:top + tile_h, left:left + tile_w] += output * window[..., None]
            weight[top:top + tile_h, left:left + tile_w] += window
    total /= weight[..., None]
    return np.ascontiguousarray(total[:height, :width])


def size_pair(value, flag, least=1):
    """(height, width) from one integer or a pair, each at least `least`; names `flag` if not."""
    values = tuple(np.atleast_1d(value).tolist())
    if len(values) not in (1, 2):
        raise SettingsError(f"{flag} takes one size or two (height, width), got {value!r}")
    values = tuple(at_least(v, least, flag) for v in values)
    return values * 2 if len(values) == 1 else values


def at_least(value, least, flag):
    """`value` if it is an integer >= `least`; a SettingsError naming `flag` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < least:
        raise SettingsError(f"{flag} must be an integer of at least {least}, got {value!r}")
    return int(value)


def tile_steps(tile, overlap, margin, stride):
    """The distance between tile starts along one axis; refuses gaps and a broken grid."""
    if tile < stride:
        raise SettingsError(f"--tile {tile} is smaller than the network's stride {stride}; "
                            f"use tiles of at least {stride} pixels")
    if overlap >= tile:
        raise SettingsError(f"--overlap {overlap} must be smaller than --tile {tile}")
    if tile - overlap < stride:
        raise SettingsError(f"--overlap {overlap} leaves tiles {tile - overlap} pixels apart, less "
                            f"than the network's stride {stride}; use --overlap <= {tile - stride}")
    if 2 * margin > overlap:
        raise SettingsError(f"--margin {margin} discards more than half of --overlap {overlap}, "
                            f"which would leave pixels no tile covers; "
                            f"use --margin <= {overlap // 2}")
    return (tile - overlap) // stride * stride


def axis_windows(length, tile, step, margin):
    """[(start, weights)] of the tiles along one axis: every `step`, the last at the border."""
    starts = list(range(0, length - tile, step)) + [length - tile]
    windows = []
    for start in starts:
        # Edges on the image border see what whole-image inference sees there.
        first = 0 if start == 0 else margin
        stop = tile if start + tile == length else tile - margin
        trusted = stop - first
        weights = np.zeros(tile)
        weights[first:stop] = np.sin(np.pi * (np.arange(trusted) + 0.5) / trusted)
        windows.append((start, weights))
    return windows
