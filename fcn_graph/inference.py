"""Segmenting images with a trained network restored from its run directory.

A run directory's `config.json` says how to rebuild the network; its
checkpoint holds the values. The graph is built once with a
[1, None, None, 3] input and the session is reused for every image, so
images of any size pass through one at a time without rebuilding.
"""
import os
import time

import numpy as np
import tensorflow as tf

from fcn_graph import crf as crf_module
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.errors import DataError
from fcn_graph.models import build
from fcn_graph.rundir import checkpoint_restorer, load_record, resolve_checkpoint
from fcn_graph.scoring import segmentation_outputs

v1 = tf.compat.v1

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def crf_settings(crf):
    """`crf` (False/None, True, or a dict of `fcn_graph.crf.refine` keywords) as keywords, or None."""
    if not crf:
        return None
    crf_module.require()
    return dict(crf) if isinstance(crf, dict) else {}


def as_rgb_array(image):
    """A path or an array (HxW or HxWx1 gray, HxWx2 gray + alpha, HxWx3 RGB, HxWx4 RGBA)
    -> uint8 HxWx3; alpha is dropped."""
    if isinstance(image, (str, os.PathLike)):
        return read_image_rgb(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise DataError(f"an image must be HxW, HxWx1, HxWx2, HxWx3 or HxWx4, got shape "
                         f"{array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"an image with no pixels cannot be segmented, got shape {array.shape}")
    array = np.repeat(array[..., :1], 3, axis=-1) if array.shape[-1] < 3 else array[..., :3]
    if array.dtype != np.uint8:
        array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    return array


def image_files(paths):
    """Image files named directly or found (sorted, non-recursive) in the folders named."""
    files = []
    for path in paths:
        path = os.path.expanduser(str(path))
        if os.path.isdir(path):
            found = sorted(os.path.join(path, name) for name in os.listdir(path)
                           if name.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise DataError(f"{path}: folder holds no images with extensions "
                                 f"{', '.join(IMAGE_EXTENSIONS)}")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise DataError(f"{path}: no such image file or folder")
    return files


class Segmenter:
    """A restored network in its own graph and session, applied to one image at a time."""

    def __init__(self, checkpoint, crf=False):
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.record = load_record(checkpoint)
        self.crf_options = crf_settings(crf)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.float32, [1, None, None, 3], name="images")
            net = build(self.record.model.for_inference(), self.images)
            probabilities, labels = segmentation_outputs(net.logits)
            self.probabilities, self.labels = probabilities[0], labels[0]
            restore = checkpoint_restorer(self.checkpoint)
        self.graph.finalize()
        self.session = v1.Session(graph=self.graph)
        restore(self.session)

    @property
    def class_names(self):
        return list(self.record.class_names or range(self.record.num_classes))

    @property
    def colors(self):
        return [list(color) for color in self.record.colors] or None

    def segment(self, image):
        """(labels int32 HxW, probabilities float32 HxWxC) for one image (path or array)."""
        rgb = as_rgb_array(image)
        probabilities, labels = self.session.run(
            [self.probabilities, self.labels], {self.images: rgb[None].astype(np.float32)})
        if self.crf_options is not None:
            probabilities = crf_module.refine(rgb, probabilities, **self.crf_options)
            labels = np.argmax(probabilities, axis=-1).astype(np.int32)
        return labels, probabilities

    def timed_segment(self, image):
        """`segment` plus its wall time in seconds."""
        start = time.perf_counter()
        labels, probabilities = self.segment(image)
        return labels, probabilities, time.perf_counter() - start

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def predict(checkpoint, images, return_probabilities=False, crf=False):
    """Label maps (int32 HxW) for images given as paths or arrays; optionally their probabilities.

    `images` may be a single path/array or a list of them; a list comes back
    either way. With `return_probabilities`, returns (labels, probabilities).
    """
    if isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray)
                                                    and images.ndim in (2, 3)):
        images = [images]
    with Segmenter(checkpoint, crf=crf) as segmenter:
        results = [segmenter.segment(image) for image in images]
    labels = [labels for labels, _ in results]
    if return_probabilities:
        return labels, [probabilities for _, probabilities in results]
    return labels
