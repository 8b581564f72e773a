"""Class colours: the VOC colour map, colourised labels, overlays, palette PNGs."""
import numpy as np
from PIL import Image

from fcn_graph.data.base import IGNORE_LABEL


def voc_palette(n=256):
    """The PASCAL VOC colour map: [n, 3] uint8, colour i from the bits of i spread over R, G, B."""
    palette = np.zeros((n, 3), np.uint8)
    for index in range(n):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def palette_array(colors):
    """[256, 3] uint8 from a list of RGB tuples; unused entries (the ignore label among them) black."""
    colors = np.asarray(colors, np.uint8).reshape(-1, 3)
    if len(colors) > 256:
        raise ValueError(f"a palette holds at most 256 colours, got {len(colors)}")
    table = np.zeros((256, 3), np.uint8)
    table[:len(colors)] = colors
    return table


def colorize(label, colors):
    """HxW class ids -> HxWx3 uint8 RGB; ids without a colour (the ignore label) black."""
    label = np.asarray(label)
    return palette_array(colors)[np.clip(label, 0, 255).astype(np.uint8)]


def overlay(image_uint8, label, colors, alpha=0.5, ignore_label=IGNORE_LABEL):
    """Blend class colours over an RGB image; ignored pixels keep the image unchanged."""
    image = np.asarray(image_uint8)
    label = np.asarray(label)
    if image.shape[:2] != label.shape:
        raise ValueError(f"image {image.shape[:2]} and label {label.shape} differ in size")
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colorize(label, colors).astype(np.float32)
    keep = (label == ignore_label)[..., None]
    return np.where(keep, image, np.round(blended)).astype(np.uint8)


def save_label_png(path, label, palette):
    """Write class ids as a palette PNG: index values in the file, colours for viewers."""
    label = np.asarray(label)
    if label.ndim != 2 or label.min(initial=0) < 0 or label.max(initial=0) > 255:
        raise ValueError(f"a label PNG needs a 2-D array of values 0..255, got shape {label.shape}")
    image = Image.fromarray(label.astype(np.uint8))  # mode L; putpalette turns it into P
    image.putpalette(palette_array(palette).reshape(-1).tolist())
    image.save(path)


def parse_color(value, where):
    """An RGB triple from JSON ([r, g, b]) or a '#rrggbb' string."""
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        return tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, int) and 0 <= v <= 255 for v in value):
        return tuple(value)
    raise ValueError(f"{where}: colour {value!r} is not [r, g, b] (0..255) or '#rrggbb'")
