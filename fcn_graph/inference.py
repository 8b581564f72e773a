"""Segmenting images with a trained network restored from its run directory.

A run directory's `config.json` says how to rebuild the network; its
checkpoint holds the values. The graph is built once with a
[None, None, None, 3] input and the session is reused for every batch, so
images of any size, batches of images and batches of tiles all pass
through one graph without rebuilding.

`InferenceOptions` says how each image is run: whole, or tile by tile
(`fcn_graph.windows`), once or averaged over rescaled and mirrored copies
(`fcn_graph.tta`), and how many images or tiles go into one run.
"""
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from fcn_graph import crf as crf_module
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.errors import DataError, SettingsError
from fcn_graph.models import build
from fcn_graph.precision import PRECISIONS
from fcn_graph.rundir import checkpoint_restorer, load_record, resolve_checkpoint
from fcn_graph.scoring import segmentation_outputs
from fcn_graph.tta import augmented_probabilities, checked_scales
from fcn_graph.windows import at_least, crop_batch, pad_batch, size_pair, tile_steps, \
    tiled_probabilities

v1 = tf.compat.v1

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class InferenceOptions:
    """How each image is run through the network.

    `tile` (height, width) runs it tile by tile, neighbours sharing
    `overlap` pixels, and blends the tiles' probabilities (see
    `fcn_graph.windows.tiled_probabilities`); None runs it whole. `scales`
    and `flip` average the probabilities of rescaled and mirrored copies in
    the image's own frame (see `fcn_graph.tta`). `batch_size` is how many
    images go into one session run for whole-image inference (padded to the
    largest with the mean colour), or how many tiles with `tile`.
    `precision` (a `fcn_graph.precision.PRECISIONS` name) is the one the
    network computes in; None keeps the one it was trained in.
    """
    tile: Optional[Tuple[int, int]] = None
    overlap: Tuple[int, int] = (0, 0)
    scales: Tuple[float, ...] = (1.0,)
    flip: bool = False
    batch_size: int = 1
    precision: Optional[str] = None

    def __post_init__(self):
        overlap = size_pair(self.overlap, "--overlap", least=0)
        if self.tile is None:
            if any(overlap):
                raise SettingsError("--overlap applies to tiles; give --tile as well")
        else:
            tile = size_pair(self.tile, "--tile")
            for side, shared in zip(tile, overlap):
                if shared >= side:
                    raise SettingsError(f"--overlap {shared} must be smaller than --tile {side}")
            object.__setattr__(self, "tile", tile)
        object.__setattr__(self, "overlap", overlap)
        object.__setattr__(self, "scales", tuple(checked_scales(self.scales)))
        object.__setattr__(self, "flip", bool(self.flip))
        object.__setattr__(self, "batch_size", at_least(self.batch_size, 1, "--batch-size"))
        if self.precision is not None and self.precision not in PRECISIONS:
            raise SettingsError(f"--precision must be one of {list(PRECISIONS)}, got "
                                f"{self.precision!r}")

    @property
    def augmented(self):
        return self.scales != (1.0,) or self.flip

    @property
    def whole_image(self):
        """True when each image is run once, whole, as it is."""
        return self.tile is None and not self.augmented

    def check_stride(self, stride):
        """Refuse tiles the network's pooling grid cannot follow (names the flag)."""
        if self.tile is not None:
            for side, shared in zip(self.tile, self.overlap):
                tile_steps(side, shared, shared // 4, stride)

    def describe(self):
        """The mode in a few words, for reports."""
        parts = ["whole images" if self.tile is None else
                 f"tiles {self.tile[0]}x{self.tile[1]} overlapping "
                 f"{self.overlap[0]}x{self.overlap[1]}"]
        if self.augmented:
            parts.append(f"scales {','.join(f'{s:g}' for s in self.scales)}"
                         + (" with flips" if self.flip else ""))
        parts.append(f"batch {self.batch_size}")
        if self.precision is not None:
            parts.append(self.precision)
        return ", ".join(parts)

    def network(self, spec):
        """The spec these options run: `spec` for inference, in the precision asked for."""
        return spec.for_inference(self.precision)


def mean_rgb(convention):
    """The mean colour of a network's input convention as R, G, B: what padding should hold."""
    mean = tuple(float(m) for m in convention.mean)
    return mean[::-1] if convention.channel_order == "BGR" else mean


class InferenceNetwork:
    """A network built in the current graph on a float32 RGB batch of any size.

    `probabilities_of(run_batch, image, options)` applies `options` to one
    image given `run_batch(batch) -> probabilities`, a session run of
    `probabilities` fed through `images`.
    """

    def __init__(self, spec):
        self.images = v1.placeholder(tf.float32, [None, None, None, 3], name="images")
        net = build(spec.for_inference(), self.images)
        self.probabilities, self.labels = segmentation_outputs(net.logits)
        self.stride = spec.stride
        self.fill = mean_rgb(spec.convention)

    def runner(self, sess):
        """run_batch(batch) -> probabilities (N, H, W, C) in session `sess`."""
        return lambda batch: sess.run(self.probabilities, {self.images: batch})

    def probabilities_of(self, run_batch, image, options):
        """float32 HxWxC probabilities of one RGB image (HxWx3, uint8 or float) under `options`."""
        image = np.asarray(image, np.float32)

        def run_images(batch):
            if options.tile is None:
                return run_batch(batch)
            return np.stack([tiled_probabilities(run_batch, one, options.tile, options.overlap,
                                                 batch_size=options.batch_size,
                                                 stride=self.stride) for one in batch])

        if not options.augmented:
            return np.asarray(run_images(image[None])[0], np.float32)
        return augmented_probabilities(run_images, image, options.scales, options.flip)


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
    """A restored network in its own graph and session, applied to images under `options`.

    Whole-image batches of several images are padded at the bottom and right
    with the network's mean colour and cropped back. A padded image's result
    equals running it alone only where the network's receptive field does
    not reach the padding: exactly for images of one size, approximately
    near the bottom and right edges of the smaller images of a mixed batch.
    """

    def __init__(self, checkpoint, crf=False, options=None):
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.record = load_record(checkpoint)
        self.options = options or InferenceOptions()
        self.crf_options = crf_settings(crf)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.spec = self.options.network(self.record.model)
            self.network = InferenceNetwork(self.spec)
            restore = checkpoint_restorer(self.checkpoint)
        self.options.check_stride(self.network.stride)
        self.graph.finalize()
        self.session = v1.Session(graph=self.graph)
        restore(self.session)
        self.run_batch = self.network.runner(self.session)

    @property
    def class_names(self):
        return list(self.record.class_names or range(self.record.num_classes))

    @property
    def colors(self):
        return [list(color) for color in self.record.colors] or None

    def segment(self, image):
        """(labels int32 HxW, probabilities float32 HxWxC) for one image (path or array)."""
        return self.segment_batch([image])[0]

    def segment_batch(self, images):
        """[(labels, probabilities)] of images (paths or arrays) run together.

        Whole-image inference runs them as one padded batch; with tiles or
        test-time augmentation they run one after the other, the tiles or
        copies of each forming the batches.
        """
        rgbs = [as_rgb_array(image) for image in images]
        if self.options.whole_image:
            batch, sizes = pad_batch(rgbs, self.network.fill)
            probabilities, labels = self.session.run(
                [self.network.probabilities, self.network.labels], {self.network.images: batch})
            results = list(zip(crop_batch(labels, sizes), crop_batch(probabilities, sizes)))
        else:
            results = []
            for rgb in rgbs:
                probabilities = self.network.probabilities_of(self.run_batch, rgb, self.options)
                results.append((most_probable(probabilities), probabilities))
        if self.crf_options is None:
            return results
        refined = [crf_module.refine(rgb, probabilities, **self.crf_options)
                   for rgb, (_, probabilities) in zip(rgbs, results)]
        return [(most_probable(probabilities), probabilities) for probabilities in refined]

    @property
    def images_per_run(self):
        """Images `segment_batch` takes at once: `batch_size` for whole-image inference, one
        with tiles or augmentation (whose tiles or copies fill the runs instead)."""
        return self.options.batch_size if self.options.whole_image else 1

    def segment_all(self, images):
        """(labels, probabilities) of every image, `images_per_run` at a time."""
        step = self.images_per_run
        for first in range(0, len(images), step):
            yield from self.segment_batch(images[first:first + step])

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def most_probable(probabilities):
    return np.argmax(probabilities, axis=-1).astype(np.int32)


def predict(checkpoint, images, return_probabilities=False, crf=False, options=None):
    """Label maps (int32 HxW) for images given as paths or arrays; optionally their probabilities.

    `images` may be a single path/array or a list of them; a list comes back
    either way. With `return_probabilities`, returns (labels, probabilities).
    `options` (`InferenceOptions`) tiles, augments or batches the images.
    """
    if isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray)
                                                    and images.ndim in (2, 3)):
        images = [images]
    with Segmenter(checkpoint, crf=crf, options=options) as segmenter:
        results = list(segmenter.segment_all(list(images)))
    labels = [labels for labels, _ in results]
    if return_probabilities:
        return labels, [probabilities for _, probabilities in results]
    return labels
