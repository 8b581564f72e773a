import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import data_fixtures as fx
from fcn_graph.data import DataError, get_dataset, make_dataset, parse_options, save_label_png, voc_palette
from fcn_graph.data.decode import data_error_in
from fcn_graph.data.tfrecord import write_tfrecords

v1 = tf.compat.v1


def take(source, split, count, initializable=False, **options):
    """`count` batches from a pipeline built and run in its own graph."""
    with tf.Graph().as_default():
        dataset = make_dataset(source, split, **options)
        if initializable:
            iterator = v1.data.make_initializable_iterator(dataset)
        else:
            iterator = v1.data.make_one_shot_iterator(dataset)
        batch = iterator.get_next()
        with v1.Session() as sess:
            if initializable:
                sess.run(iterator.initializer)
            return [sess.run(batch) for _ in range(count)]


def names(batches):
    return [n.decode() for b in batches for n in b["name"]]


@pytest.mark.parametrize("name", ["voc2012", "sbd", "cityscapes", "kitti", "ade20k", "folder"])
def test_every_source_flows_through_the_pipeline(name, tmp_path):
    options = {"size": None} if name == "cityscapes" else {}
    source = get_dataset(name, fx.WRITERS[name](str(tmp_path)), **options)
    examples = source.examples("train")
    batches = take(source, "train", len(examples), shuffle=False, repeat=False, initializable=True)
    batch = batches[0]
    assert batch["image"].dtype == np.float32 and batch["image"].shape == (1, fx.HEIGHT, fx.WIDTH, 3)
    assert batch["label"].dtype == np.int32 and batch["label"].shape == (1, fx.HEIGHT, fx.WIDTH)
    np.testing.assert_array_equal(batch["label"][0], source.read_label(examples[0][1]))
    assert names(batches) == [n for _, _, n in examples]
    if examples[0][0].endswith(".png"):
        np.testing.assert_array_equal(batch["image"][0], np.array(Image.open(examples[0][0]).convert("RGB")))


def test_fixed_size_sources_batch_and_resize_labels_with_nearest(tmp_path):
    source = get_dataset("cityscapes", fx.write_cityscapes(str(tmp_path)), size=(3, 16))
    batch = take(source, "train", 1, batch_size=2, seed=1)[0]
    assert batch["image"].shape == (2, 3, 16, 3) and batch["label"].shape == (2, 3, 16)
    assert set(np.unique(batch["label"])) <= {0, 13, 11, 255}


def test_varying_sizes_refuse_batches_without_a_crop(tmp_path):
    source = get_dataset("voc2012", fx.write_voc(str(tmp_path)))
    with pytest.raises(DataError, match="crop_size"):
        make_dataset(source, "train", batch_size=2)
    batch = take(source, "train", 1, batch_size=2, crop_size=(4, 4), seed=0)[0]
    assert batch["image"].shape == (2, 4, 4, 3)


def _synthetic(tmp_path, count=5):
    return get_dataset("synthetic", str(tmp_path), size=(12, 16), num_train=count, num_val=1, seed=7)


def test_seeded_order_is_reproducible_and_reshuffled_per_epoch(tmp_path):
    source = _synthetic(tmp_path)
    first = names(take(source, "train", 10, seed=5))
    assert first == names(take(source, "train", 10, seed=5))
    assert sorted(first[:5]) == sorted(first[5:]) == [f"train_{i:06d}" for i in range(5)]
    assert first[:5] != first[5:]
    assert first[:5] != names(take(source, "train", 5, seed=6))
    assert names(take(source, "train", 5, shuffle=False)) == [f"train_{i:06d}" for i in range(5)]


def test_skip_resumes_at_exactly_the_same_example_and_augmentation(tmp_path):
    source = _synthetic(tmp_path)
    options = dict(seed=11, augment=True, crop_size=(8, 8))
    full = take(source, "train", 13, **options)
    resumed = take(source, "train", 6, skip=7, **options)
    assert names(resumed) == names(full[7:])
    for a, b in zip(full[7:], resumed):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])


def test_skip_is_applied_before_decoding(tmp_path):
    source = _synthetic(tmp_path, count=3)
    # A decoded skipped file would fail; an undecoded one cannot.
    with open(source.examples("train")[0][0], "wb") as f:
        f.write(b"broken")
    batches = take(source, "train", 2, shuffle=False, skip=1)
    assert names(batches) == ["train_000001", "train_000002"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        take(source, "train", 1, shuffle=False)


def _labelled_colour_folder(root, height=6, width=9):
    """A folder dataset whose image colour encodes the label, to check image/label alignment."""
    fx.write_folder(root)
    palette = np.array(fx.FOLDER_CLASSES["colors"], np.uint8)
    label = np.random.default_rng(0).integers(0, 3, (height, width)).astype(np.uint8)
    for split, count in (("train", 2), ("val", 1)):
        for i in range(count):
            Image.fromarray(palette[label]).save(os.path.join(root, "images", split, f"{split}{i}.png"))
            Image.fromarray(label).save(os.path.join(root, "labels", split, f"{split}{i}.png"))
    return get_dataset("folder", root)


def test_flip_and_crop_move_image_and_label_together(tmp_path):
    source = _labelled_colour_folder(str(tmp_path))
    pad = (10.0, 20.0, 30.0)
    batches = take(source, "train", 12, seed=2, crop_size=(8, 5), pad_color=pad,
                   augment={"flip": True, "scale_range": (1.0, 1.0)})
    palette = np.array(fx.FOLDER_CLASSES["colors"] + [pad], np.float32)
    for batch in batches:
        label = batch["label"][0]
        np.testing.assert_array_equal(batch["image"][0], palette[np.where(label == 255, 3, label)])
        assert (label[6:] == 255).all()  # padded rows below the 6-row images


def test_random_scale_keeps_labels_exact_class_ids(tmp_path):
    source = _labelled_colour_folder(str(tmp_path), height=20, width=24)
    batches = take(source, "train", 8, seed=4, augment={"flip": False, "scale_range": (0.5, 2.0)})
    shapes = {b["label"].shape for b in batches}
    assert len(shapes) > 1
    for batch in batches:
        assert set(np.unique(batch["label"])) <= {0, 1, 2}
        assert batch["image"].shape[1:3] == batch["label"].shape[1:]


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    source = get_dataset("folder", fx.write_folder(str(tmp_path)))
    gray, rgba = (p for p, _, _ in source.examples("train"))
    Image.fromarray(np.full((fx.HEIGHT, fx.WIDTH), 77, np.uint8)).save(gray)
    Image.fromarray(np.full((fx.HEIGHT, fx.WIDTH, 4), 200, np.uint8)).save(rgba)
    first, second = take(source, "train", 2, shuffle=False)
    assert first["image"].shape[-1] == 3 and (first["image"] == 77).all()
    assert (second["image"] == 200).all()


def test_out_of_range_labels_stop_the_pipeline_naming_the_file(tmp_path):
    source = get_dataset("folder", fx.write_folder(str(tmp_path)))
    label = source.examples("train")[0][1]
    Image.fromarray(np.full((fx.HEIGHT, fx.WIDTH), 9, np.uint8)).save(label)
    with pytest.raises(tf.errors.InvalidArgumentError, match="train0.png"):
        take(source, "train", 1, shuffle=False)


def test_missing_files_are_reported_before_the_graph_runs(tmp_path):
    source = get_dataset("kitti", fx.write_kitti(str(tmp_path)))
    os.remove(source.examples("train")[1][1])
    with pytest.raises(DataError, match="1 files missing.*um_road_000002.png.*data check"):
        make_dataset(source, "train")


def test_tfrecords_round_trip_to_the_same_examples(tmp_path):
    source = get_dataset("kitti", fx.write_kitti(str(tmp_path / "kitti")))
    paths = write_tfrecords(source, "train", str(tmp_path / "records"), num_shards=2)
    assert [os.path.basename(p) for p in paths] == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    from_files = take(source, "train", 4, shuffle=False, repeat=False, initializable=True)
    from_records = take(source, "train", 4, shuffle=False, repeat=False,
                        tfrecord_pattern=str(tmp_path / "records" / "train-*"))
    by_name = {b["name"][0]: b for b in from_records}
    assert sorted(by_name) == sorted(b["name"][0] for b in from_files)
    for batch in from_files:
        np.testing.assert_array_equal(by_name[batch["name"][0]]["image"], batch["image"])
        np.testing.assert_array_equal(by_name[batch["name"][0]]["label"], batch["label"])


def test_tfrecord_order_is_seeded_and_skip_resumes(tmp_path):
    source = _synthetic(tmp_path / "syn", count=6)
    write_tfrecords(source, "train", str(tmp_path / "records"))
    pattern = str(tmp_path / "records" / "*.tfrecord")
    full = names(take(source, "train", 9, seed=3, tfrecord_pattern=pattern))
    assert full == names(take(source, "train", 9, seed=3, tfrecord_pattern=pattern))
    assert names(take(source, "train", 4, seed=3, skip=5, tfrecord_pattern=pattern)) == full[5:9]


def test_random_scale_of_a_resized_source_delivers_varying_sizes(tmp_path):
    source = get_dataset("cityscapes", fx.write_cityscapes(str(tmp_path)), size=(4, 10))
    batches = take(source, "train", 6, seed=1, augment=True)
    assert len({b["label"].shape for b in batches}) > 1
    for batch in batches:
        assert batch["image"].shape[1:3] == batch["label"].shape[1:]
    with pytest.raises(DataError, match="random scaling.*crop_size"):
        make_dataset(source, "train", batch_size=2, augment=True)
    batch = take(source, "train", 1, batch_size=2, seed=1, augment=True, crop_size=(4, 10))[0]
    assert batch["label"].shape == (2, 4, 10)


@pytest.mark.parametrize("encoding", ["palette", "16-bit"])
def test_table_mapped_labels_keep_their_stored_values_in_any_png_encoding(tmp_path, encoding):
    source = get_dataset("ade20k", fx.write_ade20k(str(tmp_path)))
    label = source.examples("train")[0][1]
    values = fx.stripes([0, 1, 150])
    if encoding == "palette":
        save_label_png(label, values, voc_palette())
    else:
        Image.fromarray(values.astype(np.uint16)).save(label)
    batch = take(source, "train", 1, shuffle=False)[0]
    np.testing.assert_array_equal(batch["label"][0], fx.EXPECTED["ade20k"])


@pytest.mark.parametrize("name,size", [("kitti", "576x160"), ("cityscapes", "512x256")])
def test_size_option_resizes_images_bilinear_and_labels_nearest(tmp_path, name, size):
    source = get_dataset(name, fx.WRITERS[name](str(tmp_path)), **parse_options([f"size={size}"]))
    width, height = (int(v) for v in size.split("x"))
    image_path, label_path, _ = source.examples("train")[0]
    batch = take(source, "train", 1, shuffle=False)[0]
    assert batch["image"].shape == (1, height, width, 3)
    # Nearest neighbour on pixel centres: output pixel i reads input pixel floor((i + 0.5) * in / out).
    label = source.read_label(label_path)
    rows = ((np.arange(height) + 0.5) * label.shape[0] / height).astype(int)
    columns = ((np.arange(width) + 0.5) * label.shape[1] / width).astype(int)
    np.testing.assert_array_equal(batch["label"][0], label[rows][:, columns])
    image = np.array(Image.open(image_path), np.float32)
    assert not np.array_equal(batch["image"][0], image[rows][:, columns])  # images are interpolated


def test_ade20k_square_resize_keeps_other_as_a_class(tmp_path):
    source = get_dataset("ade20k", fx.write_ade20k(str(tmp_path)), keep_other=True, size=12)
    batch = take(source, "train", 1, shuffle=False)[0]
    assert batch["label"].shape == (1, 12, 12)
    assert set(np.unique(batch["label"])) == {0, 1, 150}


def test_batches_carry_each_examples_image_path(tmp_path):
    source = _synthetic(tmp_path, count=4)
    batches = take(source, "train", 2, batch_size=2, shuffle=False)
    assert batches[0]["path"].shape == (2,)
    paths = [p.decode() for b in batches for p in b["path"]]
    assert paths == [image for image, _, _ in source.examples("train")]


def test_decode_failures_mid_pipeline_name_the_file(tmp_path):
    source = get_dataset("kitti", fx.write_kitti(str(tmp_path)))
    (image, _, _), (_, label, _), (second_image, _, _) = source.examples("train")[:3]
    with open(image, "wb") as f:
        f.write(b"not an image")
    gt = np.array(Image.open(label))
    gt[0, 0] = (1, 2, 3)
    Image.fromarray(gt).save(label)
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(second_image)
    expected = [f"image unreadable: {image} ", f"label {label} has 1 pixels of unknown colours (1, 2, 3)",
                f"label {source.examples('train')[2][1]} is {fx.WIDTH}x{fx.HEIGHT} but its image "
                f"{second_image} is 3x3"]
    for skip, message in enumerate(expected):
        with pytest.raises(tf.errors.InvalidArgumentError) as caught:
            take(source, "train", 1, shuffle=False, skip=skip)
        assert isinstance(data_error_in(caught.value), DataError)
        assert str(data_error_in(caught.value)).startswith(message)


def first_batch(dataset):
    batch = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
    with tf.compat.v1.Session() as sess:
        return sess.run(batch)


def without_and_with(source, seed, **augmentation):
    """The first batch with flips and scales off, then with `augmentation` added."""
    plain = {"flip": False, "scale_range": (1.0, 1.0)}
    batches = []
    for augment in (plain, dict(plain, **augmentation)):
        with tf.Graph().as_default():
            batches.append(first_batch(make_dataset(source, "train", shuffle=False,
                                                    augment=augment, seed=seed)))
    return batches


@pytest.mark.parametrize("fill", ["ignore", "zero"])
def test_shift_augmentation_translates_image_and_label_together(tmp_path, fill):
    source = get_dataset("synthetic", str(tmp_path), size=(40, 48), num_train=2, num_val=1)
    still, moved = without_and_with(source, 1, max_shift=0.25, shift_fill=fill)
    image, label = still["image"][0], still["label"][0]
    shifted_image, shifted_label = moved["image"][0], moved["label"][0]
    # Find the translation from the label, then check the image moved by the same amount.
    fill_label = 255 if fill == "ignore" else 0
    found = [(dy, dx) for dy in range(-10, 11) for dx in range(-12, 13)
             if np.array_equal(np.roll(label, (dy, dx), (0, 1))[max(dy, 0):40 + min(dy, 0),
                                                                  max(dx, 0):48 + min(dx, 0)],
                               shifted_label[max(dy, 0):40 + min(dy, 0),
                                             max(dx, 0):48 + min(dx, 0)])]
    assert found and found[0] != (0, 0)
    dy, dx = found[0]
    inside = (slice(max(dy, 0), 40 + min(dy, 0)), slice(max(dx, 0), 48 + min(dx, 0)))
    np.testing.assert_allclose(shifted_image[inside],
                               np.roll(image, (dy, dx), (0, 1))[inside])
    border = np.ones((40, 48), bool)
    border[inside] = False
    assert np.all(shifted_label[border] == fill_label)


def test_hue_augmentation_changes_colours_not_labels(tmp_path):
    source = get_dataset("synthetic", str(tmp_path), size=(24, 32), num_train=1, num_val=1)
    still, hued = without_and_with(source, 2, hue_delta=0.1)
    np.testing.assert_array_equal(hued["label"], still["label"])
    assert not np.allclose(hued["image"], still["image"])
    assert hued["image"].min() >= 0.0 and hued["image"].max() <= 255.0 + 1e-3
