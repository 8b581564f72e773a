"""Datasets as sharded TFRecord files, and their reader for the input pipeline.

Two record schemas are read; the features of the first record choose which:

- fcn-graph's own, written here: `image/encoded` (the image file's own bytes,
  PNG or JPEG, not re-encoded), `image/height`, `image/width`, `image/name`
  and `label/encoded`, the label already converted to train ids and encoded
  as a grayscale PNG;
- the plain image/mask schema: `image` (encoded image bytes) and `mask` (an
  encoded PNG of class ids: grayscale, palette, or RGB with equal channels).
  Its records carry no name; an example is named after its file and position.

Shards are written under a temporary name and renamed once complete, so a
shard under its final name is always whole.
"""
import io
import math
import os
import struct

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from PIL import Image

from fcn_graph.data.base import DataError
from fcn_graph.data.decode import python_image, python_label
from fcn_graph.data.labels import decode_image_rgb, decode_mask_png, label_range_problem, open_image

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/name": tf.io.FixedLenFeature([], tf.string),
    "label/encoded": tf.io.FixedLenFeature([], tf.string),
}
IMAGE_MASK_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "mask": tf.io.FixedLenFeature([], tf.string),
}
RECORD_HEADER_BYTES = 12  # the length and its CRC
RECORD_FOOTER_BYTES = 4  # the data's CRC
# What a decoder wrapped by `reading` gives for a file it could not read (see
# `pipeline.BadExamples`), shared with the file reader.
UNREAD_IMAGE_SHAPE, UNREAD_LABEL_SHAPE = (0, 0, 3), (0, 0)


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def encode_example(source, image_path, label_path, name):
    """A serialized tf.train.Example of one (image, label) pair, checked for matching sizes."""
    width, height = open_image(image_path).size
    label = source.read_label(label_path)
    if label.shape != (height, width):
        raise DataError(f"{label_path}: label is {label.shape[1]}x{label.shape[0]} but image "
                        f"{image_path} is {width}x{height}; re-export the label at the image's size")
    problem = label_range_problem(label, source.num_classes)
    if problem:
        raise DataError(f"{label_path}: {problem}")
    png = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(label, np.uint8)).save(png, format="PNG")
    with open(image_path, "rb") as f:
        image_bytes = f.read()
    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": _bytes(image_bytes), "image/height": _int64(height),
        "image/width": _int64(width), "image/name": _bytes(name.encode()),
        "label/encoded": _bytes(png.getvalue()),
    })).SerializeToString()


def write_tfrecords(source, split, out_dir, num_shards=None, examples_per_shard=500, progress=None):
    """Write `split` of `source` as out_dir/SPLIT-0000i-of-0000n.tfrecord; returns the paths.

    Each shard is written as a hidden `.NAME.partial` file and renamed when every
    shard is complete; on any error the partial files are removed.
    """
    examples = source.examples(split)
    if not examples:
        raise DataError(f"{source.name}: split {split!r} has no examples to write")
    num_shards = num_shards or max(1, math.ceil(len(examples) / examples_per_shard))
    os.makedirs(out_dir, exist_ok=True)
    names = [f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    paths = [os.path.join(out_dir, name) for name in names]
    partial = [os.path.join(out_dir, f".{name}.partial") for name in names]
    writers = [tf.io.TFRecordWriter(p) for p in partial]
    try:
        for index, example in enumerate(examples):
            writers[index % num_shards].write(encode_example(source, *example))
            if progress is not None:
                progress(index + 1, len(examples))
    except BaseException:
        for writer, path in zip(writers, partial):
            writer.close()
            os.remove(path)
        raise
    for writer, temporary, path in zip(writers, partial, paths):
        writer.close()
        os.replace(temporary, path)
    return paths


def first_record(path):
    """The first serialized record of a TFRecord file (None when it holds none), read without a graph.

    A TFRecord file is a sequence of (uint64 little-endian length, uint32 CRC of
    the length, data, uint32 CRC of the data); the CRCs are checked when the
    pipeline reads the file.
    """
    size = tf.io.gfile.stat(path).length
    if size == 0:
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        header = f.read(RECORD_HEADER_BYTES)
        if len(header) == RECORD_HEADER_BYTES:
            (length,) = struct.unpack("<Q", header[:8])
            if length <= size - RECORD_HEADER_BYTES - RECORD_FOOTER_BYTES:
                return f.read(length)
    raise DataError(f"{path}: truncated or not a TFRecord file; rewrite it with `fcn-graph data to-tfrecord`")


def record_schema(files):
    """FEATURES or IMAGE_MASK_FEATURES, from the feature keys of the first record in `files`."""
    for path in files:
        first = first_record(path)
        if first is None:
            continue
        try:
            keys = set(tf.train.Example.FromString(first).features.feature)
        except DecodeError as err:
            raise DataError(f"{path}: its first record is not a tf.train.Example ({err}); "
                            f"rewrite the records with `fcn-graph data to-tfrecord`") from err
        for schema in (FEATURES, IMAGE_MASK_FEATURES):
            if set(schema) <= keys:
                return schema
        raise DataError(f"{path}: the first record has features {sorted(keys)}; expected fcn-graph's "
                        f"{sorted(FEATURES)} or the image/mask schema {sorted(IMAGE_MASK_FEATURES)}; "
                        f"rewrite the records with `fcn-graph data to-tfrecord`")
    raise DataError(f"the TFRecord files {', '.join(files[:3])}{' ...' if len(files) > 3 else ''} "
                    f"hold no records; write them with `fcn-graph data to-tfrecord`")


def matching_files(pattern):
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise DataError(f"no TFRecord files match {pattern}; write them with `fcn-graph data to-tfrecord`")
    return files


def count_records(pattern, shard=None):
    """How many records the files matching `pattern` hold (of them, in `shard` (count, index)),
    from their length fields alone."""
    count = 0
    for path in matching_files(pattern):
        size, offset = tf.io.gfile.stat(path).length, 0
        with tf.io.gfile.GFile(path, "rb") as f:
            while offset + RECORD_HEADER_BYTES <= size:
                f.seek(offset)
                (length,) = struct.unpack("<Q", f.read(8))
                offset += RECORD_HEADER_BYTES + length + RECORD_FOOTER_BYTES
                count += 1
    if shard is None:
        return count
    every, index = shard
    return len(range(index, count, every))


def record_examples(pattern, shuffle, seed, repeat, skip, num_parallel_calls, reading,
                    shard=None):
    """(position, image, label, name, path, path) from TFRecords, the label not yet checked;
    `skip` drops serialized records before decoding; `shard` (count, index) keeps every
    count-th record from the index-th, before shuffling, for one worker of a cluster. `path` is 'FILE#N' for the N-th record
    (from 0) of FILE; `name` is the record's image/name, or FILESTEM_NNNNNN for the image/mask
    schema. `reading(read, empty_shape)` wraps the Python decoders (see
    `pipeline.BadExamples`)."""
    files = matching_files(pattern)
    schema = record_schema(files)

    def numbered(path):
        return tf.data.TFRecordDataset(path).enumerate().map(lambda index, record: (path, index, record))

    records = tf.data.Dataset.from_tensor_slices(files).flat_map(numbered)
    if shard is not None:
        records = records.shard(*shard)
    if shuffle:
        records = records.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        records = records.repeat()
    records = records.skip(skip)
    positions = tf.data.Dataset.range(skip, np.iinfo(np.int64).max)

    def decode(position, record_of):
        path, index, record = record_of
        where = tf.strings.join([path, "#", tf.strings.as_string(index)])
        features = tf.io.parse_single_example(record, schema)
        read_image = reading(lambda data, w: decode_image_rgb(data, w.decode()), UNREAD_IMAGE_SHAPE)
        image = python_image(read_image, features["image/encoded" if schema is FEATURES else "image"],
                             where)
        if schema is FEATURES:
            label = tf.io.decode_png(features["label/encoded"], channels=1)[:, :, 0]
            name = features["image/name"]
        else:
            read_mask = reading(lambda data, w: decode_mask_png(data, w.decode()), UNREAD_LABEL_SHAPE)
            label = python_label(read_mask, features["mask"], where)
            stem = tf.strings.regex_replace(path, r"^.*/|\.tfrecord$", "")
            name = tf.strings.join([stem, "_", tf.strings.as_string(index, width=6, fill="0")])
        return position, image, label, name, where, where

    return tf.data.Dataset.zip((positions, records)).map(decode, num_parallel_calls=num_parallel_calls)
