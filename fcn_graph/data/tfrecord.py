"""Datasets as sharded TFRecord files, and their reader for the input pipeline.

Each record holds the image file's own encoded bytes (PNG or JPEG, not
re-encoded), its height, width and name, and the label already converted to
train ids, encoded as a grayscale PNG, so reading needs no Python.
"""
import io
import math
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from fcn_graph.data.base import DataError
from fcn_graph.data.decode import decode_image
from fcn_graph.data.labels import label_range_problem, open_image

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/name": tf.io.FixedLenFeature([], tf.string),
    "label/encoded": tf.io.FixedLenFeature([], tf.string),
}


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
    """Write `split` of `source` as out_dir/SPLIT-0000i-of-0000n.tfrecord; returns the paths."""
    examples = source.examples(split)
    if not examples:
        raise DataError(f"{source.name}: split {split!r} has no examples to write")
    num_shards = num_shards or max(1, math.ceil(len(examples) / examples_per_shard))
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord") for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for index, example in enumerate(examples):
            writers[index % num_shards].write(encode_example(source, *example))
            if progress is not None:
                progress(index + 1, len(examples))
    finally:
        for writer in writers:
            writer.close()
    return paths


def record_examples(pattern, shuffle, seed, repeat, skip, num_parallel_calls):
    """(position, image, label, name) from TFRecords; `skip` drops serialized records before decoding."""
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise DataError(f"no TFRecord files match {pattern}; write them with `fcn-graph data to-tfrecord`")
    records = tf.data.TFRecordDataset(files)
    if shuffle:
        records = records.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        records = records.repeat()
    records = records.skip(skip)
    positions = tf.data.Dataset.range(skip, np.iinfo(np.int64).max)

    def decode(position, record):
        features = tf.io.parse_single_example(record, FEATURES)
        image = decode_image(features["image/encoded"])
        label = tf.io.decode_png(features["label/encoded"], channels=1)[:, :, 0]
        return position, image, label, features["image/name"]

    return tf.data.Dataset.zip((positions, records)).map(decode, num_parallel_calls=num_parallel_calls)
