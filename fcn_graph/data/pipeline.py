"""The tf.data input pipeline shared by every source.

Order first, pixels second: the example order is a list of indices
(shuffled per epoch by a stateless permutation of (seed, epoch)), and
`skip` is applied to that list before any file is read, so resuming after
k examples costs nothing and lands on exactly the example a full run would
have reached. Augmentation draws from (seed, position in the stream), so a
resumed run also sees the same flips, scales and crops. Every example keeps
its position, so a consumer that drops unreadable examples (`BadExamples`)
still knows how far into the stream it is.
"""
import dataclasses
import os
import random
import threading

import numpy as np
import tensorflow as tf

from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.data.base import IGNORE_LABEL, DataError
from fcn_graph.data.decode import checked_label, python_image, python_label
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.data.tfrecord import (UNREAD_IMAGE_SHAPE, UNREAD_LABEL_SHAPE, count_records,
                                     record_examples)

REFERENCE_RGB_MEAN = tuple(reversed(REFERENCE_BGR_MEAN))
SHIFT_FILLS = ("ignore", "zero")


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Synchronised image/label augmentation: random horizontal flip, random scale, and
    optionally a random hue change (`hue_delta`, as tf.image.random_hue) and a random
    translation by up to `max_shift` of each side (the TensorFlow U-Net example's).

    A translation brings in a border: image pixels of `pad_color` and labels of the
    ignore label, or, with `shift_fill="zero"`, black pixels labelled 0 as the example's
    `translate` fills them (which trains that border as class 0).
    """
    flip: bool = True
    scale_range: tuple = (0.5, 2.0)
    hue_delta: float = 0.0
    max_shift: float = 0.0
    shift_fill: str = "ignore"

    def __post_init__(self):
        if not 0 <= self.hue_delta <= 0.5 or not 0 <= self.max_shift < 1:
            raise DataError(f"augmentation: hue_delta must lie in [0, 0.5] and max_shift in "
                            f"[0, 1), got {self.hue_delta!r} and {self.max_shift!r}")
        if self.shift_fill not in SHIFT_FILLS:
            raise DataError(f"augmentation: shift_fill must be one of {SHIFT_FILLS}, got "
                            f"{self.shift_fill!r}")

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
                 pad_color=REFERENCE_RGB_MEAN, prefetch=2, bad_examples=None, shard=None):
    """Batches {'image': float32 [B,H,W,3] RGB 0..255, 'label': int32 [B,H,W] (255 ignore),
    'name': string [B], 'path': string [B], 'position': int64 [B]} from
    `source.examples(split)`, or from TFRecord files matching `tfrecord_pattern` (see
    `fcn_graph.data.tfrecord` for the schemas read).

    'path' is each example's image file, or 'RECORD_FILE#N' for the N-th record of a
    TFRecord file; 'position' its place in the stream (`skip` is the first one). A file
    that cannot be decoded stops the pipeline with an InvalidArgumentError naming it;
    `fcn_graph.data.decode.data_error_in` recovers the DataError from it. With
    `bad_examples` (a BadExamples), such examples are dropped instead and noted there.

    crop_size: (height, width); examples are padded (image with `pad_color`,
    label with the ignore label) and cropped to it: at random when augmenting,
    centred otherwise. Batches larger than one need a crop size, or a source of
    fixed-size examples and no random scaling.

    shard: (count, index): only every count-th example from the index-th, taken
    before the order is drawn (each worker of a cluster reads its own share).
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
    reading = bad_examples.reading if bad_examples is not None else _as_is
    with tf.name_scope("input_pipeline"):
        if tfrecord_pattern is None:
            examples = _existing_examples(source, split)
            if shard is not None:
                examples = _share(examples, shard, source.name, split)
            decoded = _file_examples(source, examples, shuffle, seed, repeat, skip, num_parallel_calls,
                                     reading)
        else:
            decoded = record_examples(tfrecord_pattern, shuffle, seed, repeat, skip, num_parallel_calls,
                                      reading, shard)
        if bad_examples is not None:
            per_epoch = len(examples) if tfrecord_pattern is None else \
                count_records(tfrecord_pattern, shard)
            decoded = decoded.filter(bad_examples.usable(per_epoch))

        def prepare(position, image, label, name, image_where, label_where):
            label = checked_label(image, label, source.num_classes, image_where, label_where)
            image, label = _prepare(image, label, source, augmentation, crop_size, pad_color,
                                    seed, position)
            return {"image": image, "label": label, "name": name, "path": image_where,
                    "position": position}

        batches = decoded.map(prepare, num_parallel_calls=num_parallel_calls)
        batches = batches.batch(batch_size, drop_remainder=repeat)
        return batches.prefetch(prefetch)


def _share(examples, shard, source_name, split):
    count, index = shard
    share = examples[index::count]
    if not share:
        raise DataError(f"{source_name}/{split} has {len(examples)} examples, fewer than the "
                        f"{count} workers that read it")
    return share


def _as_is(read, empty_shape):
    return read


class BadExamples:
    """Examples that cannot be read, dropped from the stream instead of stopping it.

    `reading(read, empty_shape)` wraps a reader (a Python function whose last
    argument names the file): a DataError it raises is noted under that name
    and an empty array returned. `usable(per_epoch)` is the pipeline's filter:
    it drops the examples whose image or label came back empty and those whose
    image and label differ in size, noting why. Dropped examples keep their
    positions, so the consumer can tell how many it skipped. Any
    `2 * per_epoch - 1` consecutive examples hold a whole epoch: when that
    many fail in a row, every example does, and the filter stops the
    pipeline with a DataError rather than search forever.
    `drain()` returns (and forgets) the reasons noted since it was last called.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._failed = {}
        self._dropped = []
        self._in_a_row = 0

    def reading(self, read, empty_shape):
        def read_or_note(*args):
            try:
                return read(*args)
            except DataError as err:
                with self._lock:
                    self._failed[args[-1]] = str(err)
                return np.zeros(empty_shape, np.uint8)
        return read_or_note

    def keep(self, image_shape, label_shape, image_where, label_where, limit):
        """Whether an example is usable; notes why not. Called in stream order."""
        with self._lock:
            if not image_shape.all() or not label_shape.all():
                where = image_where if not image_shape.all() else label_where
                reason = self._failed.pop(where, f"{where.decode()}: unreadable")
            elif tuple(image_shape[:2]) != tuple(label_shape):
                reason = (f"label {label_where.decode()} is {label_shape[1]}x{label_shape[0]} but "
                          f"its image {image_where.decode()} is {image_shape[1]}x{image_shape[0]}")
            else:
                self._in_a_row = 0
                return np.bool_(True)
            self._in_a_row += 1
            if self._in_a_row >= limit:
                raise DataError(f"{self._in_a_row} examples in a row failed to read, so every "
                                f"example does; the last: {reason}")
            self._dropped.append(reason)
            return np.bool_(False)

    def usable(self, per_epoch):
        limit = 2 * per_epoch - 1

        def usable(position, image, label, name, image_where, label_where):
            keep = tf.numpy_function(
                lambda *values: self.keep(*values, limit),
                [tf.shape(image), tf.shape(label), image_where, label_where], tf.bool)
            return tf.ensure_shape(keep, [])
        return usable

    def drain(self):
        with self._lock:
            dropped, self._dropped = self._dropped, []
        return dropped


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


def _file_examples(source, examples, shuffle, seed, repeat, skip, num_parallel_calls, reading):
    """(position, image, label, name, image path, label path), the label not yet checked."""
    image_paths = tf.constant([e[0] for e in examples])
    label_paths = tf.constant([e[1] for e in examples])
    names = tf.constant([e[2] for e in examples])

    def decode(position, index):
        image_path, label_path = image_paths[index], label_paths[index]
        image = python_image(reading(lambda path: read_image_rgb(path.decode()), UNREAD_IMAGE_SHAPE),
                             image_path)
        label = python_label(reading(lambda path: source.read_label(path.decode()),
                                         UNREAD_LABEL_SHAPE),
                             label_path)
        return position, image, label, names[index], image_path, label_path

    order = example_order(len(examples), shuffle, seed, repeat, skip)
    return order.map(decode, num_parallel_calls=num_parallel_calls)


def _prepare(image, label, source, augmentation, crop_size, pad_color, seed, position):
    image = tf.cast(image, tf.float32)
    label = tf.cast(label, tf.int32)
    resize_to = source.resize_to
    if resize_to is not None:
        image, label = _resize(image, label, tf.constant(resize_to, tf.int32),
                               source.image_resize, source.label_resize)
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
            image, label = _resize(image, label, tf.maximum(size, 1))
        # Seeds of their own, so that the flips, scales and crops above stay as they were.
        base_seed = tf.stack([tf.constant(seed, tf.int64), position])
        if augmentation.hue_delta:
            image = 255.0 * tf.image.stateless_random_hue(
                image / 255.0, augmentation.hue_delta,
                tf.random.experimental.stateless_fold_in(base_seed, 4))
        if augmentation.max_shift:
            image, label = _shift(image, label, augmentation, pad_color,
                                  tf.random.experimental.stateless_fold_in(base_seed, 5))
    if crop_size is not None:
        image, label = _pad_and_crop(image, label, crop_size, pad_color,
                                     seeds[2:] if augmentation is not None else None)
    fixed = crop_size or (None if augmentation is not None and augmentation.scales else resize_to)
    if fixed is not None:
        image = tf.ensure_shape(image, [fixed[0], fixed[1], 3])
        label = tf.ensure_shape(label, [fixed[0], fixed[1]])
    return image, label


def _shift(image, label, augmentation, pad_color, seed):
    """Translate image and label together by up to `max_shift` of their height and width."""
    size = tf.shape(label)
    limit = tf.cast(tf.floor(tf.cast(size, tf.float32) * augmentation.max_shift), tf.int32)
    fraction = tf.random.stateless_uniform([2], seed=seed, minval=-1.0, maxval=1.0)
    shift = tf.cast(tf.round(fraction * tf.cast(limit, tf.float32)), tf.int32)
    if augmentation.shift_fill == "zero":
        image_fill, label_fill = tf.zeros([3]), 0
    else:
        image_fill, label_fill = tf.constant(pad_color, tf.float32), IGNORE_LABEL
    padding = [[limit[0], limit[0]], [limit[1], limit[1]]]
    # Pad the image per channel, so each gets its own fill colour.
    channels = [tf.pad(image[:, :, c], padding, constant_values=image_fill[c]) for c in range(3)]
    padded_image = tf.stack(channels, axis=-1)
    padded_label = tf.pad(label, padding, constant_values=label_fill)
    begin = limit - shift
    return (tf.slice(padded_image, tf.concat([begin, [0]], 0), tf.concat([size, [3]], 0)),
            tf.slice(padded_label, begin, size))


def _resize(image, label, size, image_method="bilinear", label_method="nearest"):
    """Image and label to `size` by methods of `base.RESIZE_METHODS`; class ids are never
    interpolated (nearest), unless a tutorial's blend-and-match is asked for."""
    image = tf.image.resize(image, size, method="nearest" if image_method == "nearest" else
                            "bilinear", antialias=image_method == "antialias")
    if label_method == "bilinear":
        return image, _label_blended_then_matched(label, size)
    return image, tf.image.resize(label[:, :, None], size, method="nearest")[:, :, 0]


def _bilinear_neighbours(in_size, out_size):
    """Per output row (or column): the two source rows a half-pixel-centred bilinear resize
    blends, the second repeating the first where it gets no weight."""
    scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    position = (tf.cast(tf.range(out_size), tf.float32) + 0.5) * scale - 0.5
    position = tf.maximum(position, 0.0)
    low = tf.minimum(tf.cast(tf.floor(position), tf.int32), in_size - 1)
    high = tf.minimum(low + 1, in_size - 1)
    return low, tf.where(position > tf.floor(position), high, low)


def _label_blended_then_matched(label, size):
    """The label a colour label gives when resized bilinearly and then matched exactly against
    the colours of classes 1 and up, everything unmatched being class 0: a pixel keeps its
    class where every source pixel blended into it has that class; a blend of different
    classes, or an ignored pixel, is class 0.

    (Rounding to 8-bit colours would also keep a class whose other neighbours weigh less
    than 1/510 together; here any weight counts.)
    """
    shape = tf.shape(label)
    rows = _bilinear_neighbours(shape[0], size[0])
    columns = _bilinear_neighbours(shape[1], size[1])
    corners = [tf.gather(tf.gather(label, r), c, axis=1) for r in rows for c in columns]
    kept = [tf.not_equal(corners[0], IGNORE_LABEL)]
    kept += [tf.equal(corners[0], other) for other in corners[1:]]
    return tf.where(tf.reduce_all(kept, axis=0), corners[0], tf.zeros_like(corners[0]))


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
