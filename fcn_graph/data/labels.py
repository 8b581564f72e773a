"""Reading images and label files in their native encodings.

Images become uint8 RGB whatever their storage: grayscale, palette and
alpha are converted, and 16-bit samples keep their high byte (value >> 8,
what TensorFlow's PNG decoder does too), so a 16-bit PNG spans 0..255
instead of saturating. Of an animated or multi-page file only the first
frame is read; a warning on the `fcn_graph.data.labels` logger says so,
once per file.

Label encodings met in the sources: index PNGs (grayscale or palette; a
palette PNG stores class indices, its colours are only for viewers), colour
PNGs mapped through a colour table, and SBD's MATLAB files. Every reader
returns uint8 train ids; failures raise DataError naming the file.
"""
import io
import logging
import os
import threading

import numpy as np
from PIL import Image
from scipy.io import loadmat

from fcn_graph.data.base import IGNORE_LABEL, DataError

logger = logging.getLogger(__name__)

# Modes PIL gives single-channel images of more than 8 bits ("I" for 16-bit PNGs in older Pillows).
WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
INDEX_MODES = ("P", "L") + WIDE_GRAY_MODES

# Files already reported as animated: the input pipeline reads each file once per epoch.
_reported_animations = set()
_reported_lock = threading.Lock()


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


def decode_image_file(data, where, what="image"):
    """A loaded PIL image from encoded bytes (a file held in a TFRecord); DataError names `where`."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{what} unreadable: {where} ({err}); re-encode it as PNG or JPEG "
                        f"or remove the example") from err
    return image


def read_image_rgb(path):
    """The image file at `path` as uint8 HxWx3 RGB (see the module docstring)."""
    return image_rgb(open_image(path), path)


def decode_image_rgb(data, where):
    """Encoded image bytes as uint8 HxWx3 RGB, as `read_image_rgb` reads a file."""
    return image_rgb(decode_image_file(data, where), where)


def image_rgb(image, where):
    """A loaded PIL image's first frame as uint8 HxWx3 RGB; 16-bit samples keep their high byte."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        _report_animation(where, frames)
    if image.mode in WIDE_GRAY_MODES:
        # PIL's own conversion saturates every value above 255.
        gray = (np.clip(np.asarray(image, np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _report_animation(where, frames):
    with _reported_lock:
        if where in _reported_animations:
            return
        _reported_animations.add(where)
    logger.warning("%s holds %d frames; only the first is used", where, frames)


def read_index_png(path):
    """The stored values of a single-channel or palette PNG (no palette-to-colour expansion)."""
    return index_values(open_image(path, "label"), path)


def decode_mask_png(data, where):
    """Class ids from encoded mask bytes: an index PNG, or an RGB PNG whose channels are equal."""
    image = decode_image_file(data, where, "mask")
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image)[:, :, :3]
        if (rgb == rgb[:, :, :1]).all():
            return np.ascontiguousarray(rgb[:, :, 0])
        raise DataError(f"mask {where} is a colour image; store class ids as a grayscale or "
                        f"palette PNG, or as equal R, G and B values")
    return index_values(image, where)


def index_values(image, where):
    """The stored values of a single-channel or palette image, checked to be 0..255."""
    if image.mode not in INDEX_MODES:
        raise DataError(f"label {where} is a {image.mode} image; an index label must be a palette "
                        f"or grayscale PNG holding class ids (colour labels need a colour table)")
    values = np.asarray(image)
    if values.max(initial=0) > 255 or values.min(initial=0) < 0:
        raise DataError(f"label {where} holds values outside 0..255 (max {values.max()}); "
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
