"""Reading images and label files in their native encodings.

Label encodings met in the sources: index PNGs (grayscale or palette; a
palette PNG stores class indices, its colours are only for viewers), colour
PNGs mapped through a colour table, and SBD's MATLAB files. Every reader
returns uint8 train ids; failures raise DataError naming the file.
"""
import os

import numpy as np
from PIL import Image

from fcn_graph.data.base import IGNORE_LABEL, DataError


def open_image(path, what="image"):
    """A loaded PIL image, or DataError saying the file is missing or unreadable."""
    if not os.path.isfile(path):
        raise DataError(f"{what} missing: {path}; restore the file or remove the example from the split")
    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{what} unreadable: {path} ({err}); re-export it as PNG or JPEG "
                        f"or remove the example from the split") from err
    return image


def read_image_rgb(path):
    """uint8 HxWx3 RGB; grayscale, palette and RGBA images are converted."""
    image = open_image(path)
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def read_index_png(path):
    """The stored values of a single-channel or palette PNG (no palette-to-colour expansion)."""
    image = open_image(path, "label")
    if image.mode not in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
        raise DataError(f"label {path} is a {image.mode} image; an index label must be a palette "
                        f"or grayscale PNG holding class ids (colour labels need a colour table)")
    values = np.asarray(image)
    if values.max(initial=0) > 255 or values.min(initial=0) < 0:
        raise DataError(f"label {path} holds values outside 0..255 (max {values.max()}); "
                        f"store class ids as 8-bit values")
    return values.astype(np.uint8)


def apply_lut(values, lut):
    """Map native label values to train ids through a 256-entry table."""
    return np.asarray(lut, np.uint8)[values]


def lut_from_pairs(pairs, default=IGNORE_LABEL):
    """A uint8 [256] table mapping each native value to its train id, others to `default`."""
    lut = np.full(256, default, np.uint8)
    for native, train_id in pairs:
        lut[native] = train_id
    return lut


def read_color_png(path, color_ids):
    """Colour label -> train ids via {(r, g, b): id}; an unknown colour is an error."""
    image = open_image(path, "label")
    rgb = np.asarray(image.convert("RGB")).astype(np.int32)
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    ids = np.full(codes.shape, IGNORE_LABEL, np.uint8)
    known = np.zeros(codes.shape, bool)
    for (r, g, b), train_id in color_ids.items():
        match = codes == ((r << 16) | (g << 8) | b)
        ids[match] = train_id
        known |= match
    if not known.all():
        unknown = np.unique(codes[~known])
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown[:5])
        raise DataError(f"label {path} has {int((~known).sum())} pixels of unknown colours {shown}"
                        f"{' ...' if len(unknown) > 5 else ''}; repaint them with a class colour "
                        f"or add the colour to the class table")
    return ids


def read_sbd_mat(path):
    """SBD class labels: MATLAB struct `GTcls`, field `Segmentation` (0 = background, 1..20)."""
    from scipy.io import loadmat
    if not os.path.isfile(path):
        raise DataError(f"label missing: {path}; restore the SBD file or remove the example from the split")
    try:
        segmentation = loadmat(path)["GTcls"][0]["Segmentation"][0]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise DataError(f"label {path} is not an SBD class file with GTcls.Segmentation ({err}); "
                        f"use the files of SBD's dataset/cls directory") from err
    return np.asarray(segmentation).astype(np.uint8)


def label_range_problem(label, num_classes):
    """A sentence describing values that are neither class ids nor the ignore label, or None."""
    bad = (label >= num_classes) & (label != IGNORE_LABEL)
    if not bad.any():
        return None
    values = ", ".join(str(v) for v in np.unique(label[bad])[:8])
    return (f"{int(bad.sum())} pixels hold values {values} outside classes 0..{num_classes - 1} "
            f"and the ignore label {IGNORE_LABEL}; relabel them or extend the class list")
