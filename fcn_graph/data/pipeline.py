"""The tf.data input pipeline shared by every source.

Order first, pixels second: the example order is a list of indices
(shuffled per epoch by a stateless permutation of (seed, epoch)), and
`skip` is applied to that list before any file is read, so resuming after
k examples costs nothing and lands on exactly the example a full run would
have reached. Augmentation draws from (seed, position in the stream), so a
resumed run also sees the same flips, scales and crops.
"""
import dataclasses
import os
import random

import numpy as np
import tensorflow as tf

from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.data.base import IGNORE_LABEL, DataError
from fcn_graph.data.decode import checked_label, python_image, python_label
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.data.tfrecord import record_examples

REFERENCE_RGB_MEAN = tuple(reversed(REFERENCE_BGR_MEAN))


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Synchronised image/label augmentation: random horizontal flip and random scale."""
    flip: bool = True
    scale_range: tuple = (0.5, 2.0)

    @property
    def scales(self):
        """Whether examples are resized at random (their delivered size then varies)."""
        return tuple(self.scale_range) != (1.0, 1.0)

    @classmethod
    def of(cls, augment):
        """None/False -> None; True -> defaults; a dict -> its fields; an Augmentation as is."""
        if augment is None or augment is False:
            return None
        if augment is True:
            return cls()
        if isinstance(augment, dict):
            return cls(**augment)
        if isinstance(augment, cls):
            return augment
        raise TypeError(f"augment must be None, a bool, a dict or an Augmentation, got {augment!r}")


def make_dataset(source, split, batch_size=1, shuffle=True, seed=None, augment=None, repeat=True,
                 skip=0, crop_size=None, tfrecord_pattern=None, num_parallel_calls=tf.data.AUTOTUNE,
                 pad_color=REFERENCE_RGB_MEAN, prefetch=2):
    """Batches {'image': float32 [B,H,W,3] RGB 0..255, 'label': int32 [B,H,W] (255 ignore),
    'name': string [B], 'path': string [B]} from `source.examples(split)`, or from TFRecord
    files matching `tfrecord_pattern` (see `fcn_graph.data.tfrecord` for the schemas read).

    'path' is each example's image file, or 'RECORD_FILE#N' for the N-th record of a
    TFRecord file. A file that cannot be decoded stops the pipeline with an
    InvalidArgumentError naming it; `fcn_graph.data.decode.data_error_in` recovers the
    DataError from it.

    crop_size: (height, width); examples are padded (image with `pad_color`,
    label with the ignore label) and cropped to it: at random when augmenting,
    centred otherwise. Batches larger than one need a crop size, or a source of
    fixed-size examples and no random scaling.
    """
    augmentation = Augmentation.of(augment)
    scales = augmentation is not None and augmentation.scales
    if batch_size > 1 and crop_size is None and (source.fixed_size is None or scales):
        why = "random scaling changes their sizes" if scales else f"{source.name!r} examples vary in size"
        raise DataError(f"batch_size={batch_size} needs examples of one size, but {why}; "
                        f"pass crop_size=(height, width) or use batch_size=1")
    if skip < 0:
        raise ValueError(f"skip must be >= 0, got {skip}")
    if seed is None:
        seed = random.SystemRandom().randrange(2 ** 31)
    with tf.name_scope("input_pipeline"):
        if tfrecord_pattern is None:
            examples = _existing_examples(source, split)
            decoded = _file_examples(source, examples, shuffle, seed, repeat, skip, num_parallel_calls)
        else:
            decoded = record_examples(tfrecord_pattern, source.num_classes, shuffle, seed, repeat, skip,
                                      num_parallel_calls)

        def prepare(position, image, label, name, path):
            image, label = _prepare(image, label, source.resize_to, augmentation, crop_size,
                                    pad_color, seed, position)
            return {"image": image, "label": label, "name": name, "path": path}

        batches = decoded.map(prepare, num_parallel_calls=num_parallel_calls)
        batches = batches.batch(batch_size, drop_remainder=repeat)
        return batches.prefetch(prefetch)


def _existing_examples(source, split):
    examples = source.examples(split)
    if not examples:
        raise DataError(f"{source.name}: split {split!r} has no examples under {source.data_dir}")
    missing = [path for image, label, _ in examples for path in (image, label) if not os.path.isfile(path)]
    if missing:
        raise DataError(f"{source.name}/{split}: {len(missing)} files missing, e.g. {', '.join(missing[:3])}; "
                        f"run `fcn-graph data check --dataset {source.name} --split {split}` for a full report")
    return examples


def example_order(num_examples, shuffle, seed, repeat, skip):
    """(position, example index) pairs: one stateless permutation per epoch, `skip` pairs dropped."""
    n = tf.constant(num_examples, tf.int64)

    def epoch_order(epoch):
        positions = epoch * n + tf.range(n, dtype=tf.int64)
        if shuffle:
            keys = tf.random.stateless_uniform([num_examples], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
            indices = tf.argsort(keys)
        else:
            indices = tf.range(num_examples, dtype=tf.int32)
        return tf.data.Dataset.from_tensor_slices((positions, indices))

    first_epoch = skip // num_examples if repeat else 0
    epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max if repeat else 1)
    return epochs.flat_map(epoch_order).skip(skip - first_epoch * num_examples)


def _file_examples(source, examples, shuffle, seed, repeat, skip, num_parallel_calls):
    image_paths = tf.constant([e[0] for e in examples])
    label_paths = tf.constant([e[1] for e in examples])
    names = tf.constant([e[2] for e in examples])

    def decode(position, index):
        image_path, label_path = image_paths[index], label_paths[index]
        image = python_image(lambda path: read_image_rgb(path.decode()), image_path)
        label = python_label(lambda path: source.read_label(path.decode()), label_path)
        label = checked_label(image, label, source.num_classes, image_path, label_path)
        return position, image, label, names[index], image_path

    order = example_order(len(examples), shuffle, seed, repeat, skip)
    return order.map(decode, num_parallel_calls=num_parallel_calls)


def _prepare(image, label, resize_to, augmentation, crop_size, pad_color, seed, position):
    image = tf.cast(image, tf.float32)
    label = tf.cast(label, tf.int32)
    if resize_to is not None:
        image, label = _resize(image, label, tf.constant(resize_to, tf.int32), antialias=True)
    seeds = tf.random.experimental.stateless_split(
        tf.stack([tf.constant(seed, tf.int64), position]), num=4)
    if augmentation is not None:
        if augmentation.flip:
            flip = tf.random.stateless_uniform([], seed=seeds[0]) < 0.5
            image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
            label = tf.cond(flip, lambda: tf.reverse(label, [1]), lambda: label)
        if augmentation.scales:
            low, high = augmentation.scale_range
            scale = tf.random.stateless_uniform([], seed=seeds[1], minval=low, maxval=high)
            size = tf.cast(tf.round(tf.cast(tf.shape(label), tf.float32) * scale), tf.int32)
            image, label = _resize(image, label, tf.maximum(size, 1), antialias=False)
    if crop_size is not None:
        image, label = _pad_and_crop(image, label, crop_size, pad_color,
                                     seeds[2:] if augmentation is not None else None)
    fixed = crop_size or (None if augmentation is not None and augmentation.scales else resize_to)
    if fixed is not None:
        image = tf.ensure_shape(image, [fixed[0], fixed[1], 3])
        label = tf.ensure_shape(label, [fixed[0], fixed[1]])
    return image, label


def _resize(image, label, size, antialias):
    """Image bilinear, label nearest neighbour (class ids must never be interpolated)."""
    image = tf.image.resize(image, size, method="bilinear", antialias=antialias)
    label = tf.image.resize(label[:, :, None], size, method="nearest")[:, :, 0]
    return image, label


def _pad_and_crop(image, label, crop_size, pad_color, seeds):
    """Pad bottom/right up to crop_size (image with pad_color, label with ignore), then crop."""
    height, width = crop_size
    shape = tf.shape(label)
    pad_h = tf.maximum(height - shape[0], 0)
    pad_w = tf.maximum(width - shape[1], 0)
    padding = [[0, pad_h], [0, pad_w]]
    color = tf.constant(pad_color, tf.float32)
    image = tf.pad(image - color, padding + [[0, 0]]) + color
    label = tf.pad(label, padding, constant_values=IGNORE_LABEL)
    spare = tf.shape(label) - tf.constant([height, width])
    if seeds is None:
        top, left = spare[0] // 2, spare[1] // 2
    else:
        top = tf.random.stateless_uniform([], seed=seeds[0], maxval=spare[0] + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([], seed=seeds[1], maxval=spare[1] + 1, dtype=tf.int32)
    image = image[top:top + height, left:left + width]
    label = label[top:top + height, left:left + width]
    return image, label
