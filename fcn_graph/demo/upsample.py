"""Upsample a photo with the bilinear transposed convolution and check it against scikit-image.

The FCN "up" layers start as this exact operation, so a photo enlarged by
the graph should look like an ordinary bilinear resize and match
scikit-image's `rescale(order=1, mode='constant', cval=0)` to float
precision, borders included.
"""
import os

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from skimage.transform import rescale

from fcn_graph.upsampling import upsample_bilinear


def read_rgb(path):
    """An image file as (H, W, 3) float32 RGB 0..255; grey and RGBA files are converted."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float32)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path}: no such image; pass the path of a JPEG or PNG") \
            from error
    except UnidentifiedImageError as error:
        raise ValueError(f"{path}: not an image PIL can read; pass a JPEG or PNG") from error


def graph_upsample(image, factor):
    """(H, W, 3) float -> (H*f, W*f, 3) float32 through `upsample_bilinear` in a graph."""
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="image")
        upsampled = upsample_bilinear(images, factor)
        with tf.compat.v1.Session() as sess:
            return sess.run(upsampled, {images: image[None]})[0]


def skimage_upsample(image, factor):
    return rescale(image.astype(np.float64), factor, order=1, mode="constant", cval=0,
                   anti_aliasing=False, clip=False, channel_axis=-1)


def upsample_photo(image_path, factor, out_path):
    """Write the upsampled photo to `out_path`; return the max |graph - scikit-image| (0..255 scale)."""
    if int(factor) != factor or factor < 1:
        raise ValueError(f"FACTOR must be a positive integer, got {factor!r}")
    image = read_rgb(image_path)
    ours = graph_upsample(image, int(factor))
    reference = skimage_upsample(image, int(factor))
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    Image.fromarray(np.clip(np.round(ours), 0, 255).astype(np.uint8)).save(out_path)
    return float(np.abs(ours - reference).max())
