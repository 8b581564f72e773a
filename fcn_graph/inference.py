"""Segmenting images with a trained network restored from its run directory.

A run directory's `config.json` says how to rebuild the network; its
checkpoint holds the values. The graph is built once with a
[1, None, None, 3] input and the session is reused for every image, so
images of any size pass through one at a time without rebuilding.
"""
import os
import time
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import tensorflow as tf
from PIL import Image

from fcn_graph.fcn import VARIANTS
from fcn_graph.models import build_model

v1 = tf.compat.v1

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
# Options of config.json that shape an FCN variant; the other nets take only a width.
FCN_CONFIG_OPTIONS = ("backbone", "geometry", "width", "learn_upsampling")
OTHER_NET_CONFIG_OPTIONS = ("width",)


class CheckpointError(ValueError):
    """A checkpoint or run directory that cannot be restored; the message names the path and the fix."""


@dataclass(frozen=True)
class InputConvention:
    """Channel order and mean of the images a network was trained on, as recorded in a run."""
    channel_order: str
    mean: Tuple[float, float, float]


def resolve_checkpoint(path):
    """A checkpoint prefix from a run directory, its checkpoints folder, or a prefix itself."""
    from fcn_graph.training.config import CHECKPOINT_DIR
    path = os.path.expanduser(str(path))
    if os.path.isdir(path):
        for folder in (os.path.join(path, CHECKPOINT_DIR), path):
            if os.path.isdir(folder):
                latest = tf.train.latest_checkpoint(folder)
                if latest:
                    return latest
        raise CheckpointError(f"{path}: no checkpoint found in this directory or its "
                              f"'{CHECKPOINT_DIR}/' folder; train first or pass a checkpoint "
                              f"prefix such as RUN/checkpoints/model.ckpt-1000")
    if os.path.exists(path + ".index"):
        return path
    raise CheckpointError(f"{path}: neither a run directory nor a checkpoint prefix "
                          f"(expected {path}.index); pass a run directory or a checkpoint prefix")


def run_config(checkpoint):
    """The run's config.json for a run directory or one of its checkpoints."""
    from fcn_graph.training import load_run_config
    return load_run_config(checkpoint)


def build_network(config, images):
    """Rebuild the network a run config describes on RGB 0..255 NHWC `images`, for inference."""
    name = config["model"]
    if name in VARIANTS:
        options = {key: config[key] for key in FCN_CONFIG_OPTIONS if config.get(key) is not None}
        # Dropout never acts at inference; without it the graph holds no conditional.
        options["dropout_rate"] = 0.0
        weights = InputConvention(config["channel_order"], tuple(config["mean"]))
    else:
        options = {key: config[key] for key in OTHER_NET_CONFIG_OPTIONS
                   if config.get(key) is not None}
        weights = None
    return build_model(name, images, int(config["num_classes"]), weights=weights, **options)


def checkpoint_restorer(checkpoint, var_list=None):
    """Build the restore ops now (graph time); return `restore(sess)` that fails clearly on mismatch."""
    saver = v1.train.Saver(var_list=var_list)

    def restore(sess):
        try:
            # Outside its graph a Saver would rebuild itself for eager execution.
            with sess.graph.as_default():
                saver.restore(sess, checkpoint)
        except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as err:
            raise CheckpointError(
                f"{checkpoint}: does not match the network its config.json describes "
                f"({err.message.splitlines()[0]}); use the config.json of the run that "
                f"wrote this checkpoint") from err
    return restore


def segmentation_outputs(logits):
    """Per-pixel class probabilities and the most probable class (int32)."""
    return tf.nn.softmax(logits, axis=-1), tf.argmax(logits, axis=-1, output_type=tf.int32)


def require_crf():
    """The CRF module, or a clear error saying how to install pydensecrf."""
    from fcn_graph import crf
    if not crf.available():
        raise RuntimeError("dense-CRF refinement needs pydensecrf: pip install pydensecrf2 "
                           "(or install fcn-graph with the 'crf' extra)")
    return crf


def read_rgb(path):
    """An image file as uint8 HxWx3 RGB (grayscale expanded, alpha dropped)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable image ({err}); pass JPEG/PNG/BMP/TIFF files")


def as_rgb_array(image):
    """A path or an array (HxW or HxWx1 gray, HxWx2 gray + alpha, HxWx3 RGB, HxWx4 RGBA)
    -> uint8 HxWx3; alpha is dropped."""
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"an image must be HxW, HxWx1, HxWx2, HxWx3 or HxWx4, got shape "
                         f"{array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"an image with no pixels cannot be segmented, got shape {array.shape}")
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
                raise ValueError(f"{path}: folder holds no images with extensions "
                                 f"{', '.join(IMAGE_EXTENSIONS)}")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ValueError(f"{path}: no such image file or folder")
    return files


class Segmenter:
    """A restored network in its own graph and session, applied to one image at a time."""

    def __init__(self, checkpoint, crf=False):
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.config = run_config(checkpoint)
        self.crf = require_crf() if crf else None
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.float32, [1, None, None, 3], name="images")
            net = build_network(self.config, self.images)
            probabilities, labels = segmentation_outputs(net.logits)
            self.probabilities, self.labels = probabilities[0], labels[0]
            restore = checkpoint_restorer(self.checkpoint)
        self.graph.finalize()
        self.session = v1.Session(graph=self.graph)
        restore(self.session)

    @property
    def class_names(self):
        return list(self.config.get("class_names") or range(int(self.config["num_classes"])))

    @property
    def colors(self):
        return self.config.get("colors")

    def segment(self, image):
        """(labels int32 HxW, probabilities float32 HxWxC) for one image (path or array)."""
        rgb = as_rgb_array(image)
        probabilities, labels = self.session.run(
            [self.probabilities, self.labels], {self.images: rgb[None].astype(np.float32)})
        if self.crf is not None:
            probabilities = self.crf.refine(rgb, probabilities)
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
