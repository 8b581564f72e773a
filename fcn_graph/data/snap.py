"""Snapping a rough mask's class boundaries onto the colour edges of its image.

Hand-drawn polygons follow an outline to within a few pixels. Far from any
boundary the polygon is certainly right; in a band around the boundaries a
random walker (Grady 2006) re-decides each pixel from the image colours,
seeded by the certain pixels, so the boundary settles on the image's edges.
"""
import warnings

import numpy as np
from scipy import ndimage
from skimage.segmentation import random_walker


def boundary_band(mask, margin):
    """bool HxW: pixels within `margin` pixels of a change of class."""
    edges = np.zeros(mask.shape, bool)
    edges[:-1] |= mask[:-1] != mask[1:]
    edges[1:] |= mask[:-1] != mask[1:]
    edges[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    edges[:, 1:] |= mask[:, :-1] != mask[:, 1:]
    if margin < 1:
        return np.zeros(mask.shape, bool)
    # The edge pixels are the first pixel on each side; each dilation adds one more.
    return ndimage.binary_dilation(edges, iterations=margin - 1) if margin > 1 else edges


def snap_to_edges(image, mask, margin=10, beta=200):
    """The mask with every pixel within `margin` of a boundary re-labelled by a random walker.

    `image` is HxWx3 uint8, `mask` HxW integer labels; `beta` weighs colour
    differences (larger: boundaries cling harder to edges).
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape} differ in size")
    classes, index = np.unique(mask, return_inverse=True)
    if len(classes) < 2 or margin < 1:
        return mask.copy()
    seeds = np.where(boundary_band(mask, margin), 0, index.reshape(mask.shape) + 1)
    with warnings.catch_warnings():
        # The iterative solver may overshoot [0, 1] by round-off; only the argmax is used.
        warnings.simplefilter("ignore", UserWarning)
        walked = random_walker(image.astype(np.float64) / 255.0, seeds, beta=beta, mode="cg_j",
                               channel_axis=-1)
    return classes[walked - 1].astype(mask.dtype)
