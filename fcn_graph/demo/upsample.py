"""Upsample a photo with the bilinear transposed convolution and check it against scikit-image.

The FCN "up" layers start as this exact operation, so a photo enlarged by
the graph should look like an ordinary bilinear resize and match
scikit-image's `rescale(order=1, mode='constant', cval=0)` to float
precision, borders included.
"""
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from fcn_graph.data import read_image_rgb
from fcn_graph.errors import UsageError
from fcn_graph.testing import reference_upsample
from fcn_graph.upsampling import upsample_bilinear


def graph_upsample(image, factor):
    """(H, W, 3) float -> (H*f, W*f, 3) float32 through `upsample_bilinear` in a graph."""
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="image")
        upsampled = upsample_bilinear(images, factor)
        with tf.compat.v1.Session() as sess:
            return sess.run(upsampled, {images: image[None]})[0]


def upsample_photo(image_path, factor, out_path):
    """Write the upsampled photo to `out_path`; return the max |graph - scikit-image| (0..255 scale)."""
    if int(factor) != factor or factor < 1:
        raise UsageError(f"FACTOR must be a positive integer, got {factor!r}")
    image = read_image_rgb(image_path).astype(np.float32)
    ours = graph_upsample(image, int(factor))
    reference = reference_upsample(image[None], int(factor))[0]
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    Image.fromarray(np.clip(np.round(ours), 0, 255).astype(np.uint8)).save(out_path)
    return float(np.abs(ours - reference).max())
