"""TFRecords: fcn-graph's schema and the plain image/mask schema, and whole-or-nothing shards."""
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import data_fixtures as fx
from fcn_graph.data import DataError, get_dataset, make_dataset
from fcn_graph.data.decode import data_error_in
from fcn_graph.data.polygons import BUILTIN_CLASS_MAPS
from fcn_graph.data.tfrecord import (IMAGE_MASK_FEATURES, count_records, first_record, record_schema,
                                     write_tfrecords)

v1 = tf.compat.v1


def _encoded(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _write_image_mask_records(path, pairs):
    """Records of the plain schema: 'image' and 'mask' hold the encoded files' bytes."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image_bytes, mask_bytes in pairs:
            feature = {key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
                       for key, value in (("image", image_bytes), ("mask", mask_bytes))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _labelbox_folder(root):
    """A folder source with the 8 street classes, for the class count the pipeline checks against."""
    os.makedirs(root)
    names = list(BUILTIN_CLASS_MAPS["labelbox8"])
    with open(os.path.join(root, "classes.json"), "w") as f:
        json.dump({"classes": names, "colors": [[i, i, i] for i in range(len(names))]}, f)
    return get_dataset("folder", root)


def _records(source, pattern, count):
    with tf.Graph().as_default():
        dataset = make_dataset(source, "train", shuffle=False, repeat=False, tfrecord_pattern=pattern)
        batch = v1.data.make_one_shot_iterator(dataset).get_next()
        with v1.Session() as sess:
            return [sess.run(batch) for _ in range(count)]


def test_image_mask_schema_is_read_with_its_masks_class_ids(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(3)]
    masks = [rng.integers(0, 8, (5, 7), dtype=np.uint8) for _ in range(3)]
    # Masks as written by painting class ids into an RGB canvas, as a grayscale PNG, and a JPEG image.
    encoded = [(_encoded(images[0]), _encoded(np.repeat(masks[0][..., None], 3, axis=2))),
               (_encoded(images[1]), _encoded(masks[1])),
               (_encoded(images[2], "JPEG"), _encoded(masks[2]))]
    path = tmp_path / "street.tfrecord"
    _write_image_mask_records(path, encoded)
    batches = _records(_labelbox_folder(str(tmp_path / "classes")), str(path), 3)
    for index, batch in enumerate(batches):
        np.testing.assert_array_equal(batch["label"][0], masks[index])
        assert batch["name"][0].decode() == f"street_{index:06d}"
        assert batch["path"][0].decode() == f"{path}#{index}"
    np.testing.assert_array_equal(batches[0]["image"][0], images[0])
    np.testing.assert_array_equal(batches[1]["image"][0], images[1])
    np.testing.assert_array_equal(batches[2]["image"][0], np.array(Image.open(io.BytesIO(encoded[2][0]))))


def test_image_mask_record_of_mismatched_sizes_names_the_record(tmp_path):
    path = tmp_path / "bad.tfrecord"
    good = (_encoded(np.zeros((4, 4, 3), np.uint8)), _encoded(np.zeros((4, 4), np.uint8)))
    _write_image_mask_records(path, [good, (good[0], _encoded(np.zeros((2, 4), np.uint8)))])
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        _records(_labelbox_folder(str(tmp_path / "classes")), str(path), 2)
    assert str(data_error_in(caught.value)).startswith(f"label {path}#1 is 4x2 but its image {path}#1 is 4x4")


def test_records_of_an_unknown_schema_are_refused_naming_both_schemas(tmp_path):
    path = tmp_path / "other.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        feature = {"pixels": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    source = _labelbox_folder(str(tmp_path / "classes"))
    with pytest.raises(DataError, match=r"other.tfrecord: the first record has features \['pixels'\]; "
                                        r"expected .*'image/encoded'.*'label/encoded'.*\['image', 'mask'\]"):
        make_dataset(source, "train", tfrecord_pattern=str(path))


def test_a_failed_conversion_leaves_no_shard_under_a_final_name(tmp_path):
    source = get_dataset("kitti", fx.write_kitti(str(tmp_path / "kitti"), count=8))
    out = tmp_path / "records"
    with open(source.examples("train")[3][1], "wb") as f:
        f.write(b"truncated")
    with pytest.raises(DataError, match="um_road_000004.png"):
        write_tfrecords(source, "train", str(out), num_shards=2)
    assert os.listdir(out) == []
    fx.write_kitti(str(tmp_path / "kitti"), count=8)
    paths = write_tfrecords(source, "train", str(out), num_shards=2)
    assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in paths)
    assert all(os.path.getsize(p) > 0 for p in paths)


def test_empty_and_foreign_files_are_told_apart_from_records(tmp_path):
    (tmp_path / "a-empty.tfrecord").write_bytes(b"")
    _write_image_mask_records(tmp_path / "b.tfrecord", [(b"i", b"m")])
    assert first_record(str(tmp_path / "a-empty.tfrecord")) is None
    assert record_schema([str(tmp_path / n) for n in ("a-empty.tfrecord", "b.tfrecord")]) is IMAGE_MASK_FEATURES
    (tmp_path / "c.tfrecord").write_bytes(b"\xff" * 40)
    with pytest.raises(DataError, match="c.tfrecord: truncated or not a TFRecord file"):
        first_record(str(tmp_path / "c.tfrecord"))


def test_workers_read_disjoint_shards_of_the_records(tmp_path):
    source = get_dataset("synthetic", str(tmp_path / "data"), size=(8, 8), num_train=5,
                         num_val=1)
    write_tfrecords(source, "train", str(tmp_path / "records"), num_shards=2)
    pattern = str(tmp_path / "records" / "train-*.tfrecord")
    names = []
    for index in range(2):
        with tf.Graph().as_default():
            dataset = make_dataset(source, "train", shuffle=False, repeat=False,
                                   tfrecord_pattern=pattern, shard=(2, index))
            batch = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
            with tf.compat.v1.Session() as sess:
                names.append([])
                while True:
                    try:
                        names[-1].append(sess.run(batch["name"])[0])
                    except tf.errors.OutOfRangeError:
                        break
    assert len(names[0]) == count_records(pattern, (2, 0)) == 3
    assert len(names[1]) == count_records(pattern, (2, 1)) == 2
    assert not set(names[0]) & set(names[1])
