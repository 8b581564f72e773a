import os

import numpy as np
import pytest
from PIL import Image

import data_fixtures as fx
from fcn_graph.data import DataError, available_datasets, get_dataset, parse_options
from fcn_graph.data.cityscapes import TRAIN_CLASSES, TRAIN_COLORS


def _source(name, tmp_path, **options):
    return get_dataset(name, fx.WRITERS[name](str(tmp_path)), **options)


def test_registry_lists_every_source_and_rejects_unknown_names():
    assert {"voc2012", "sbd", "cityscapes", "kitti", "ade20k", "folder", "synthetic",
            "single_image"} <= set(available_datasets())
    with pytest.raises(DataError, match="unknown dataset 'nope'.*voc2012"):
        get_dataset("nope")


def test_cli_options_parse_sizes_as_width_by_height():
    assert parse_options(["size=384x160", "classes=7", "flag=true", "scale=0.5", "mode=x"]) == {
        "size": (160, 384), "classes": 7, "flag": True, "scale": 0.5, "mode": "x"}


@pytest.mark.parametrize("name", ["voc2012", "cityscapes", "kitti", "ade20k", "folder"])
def test_each_source_decodes_its_native_labels_to_train_ids(name, tmp_path):
    source = _source(name, tmp_path)
    image, label, _ = source.examples("train")[0]
    ids = source.read_label(label)
    assert ids.dtype == np.uint8 and ids.shape == (fx.HEIGHT, fx.WIDTH)
    np.testing.assert_array_equal(ids, fx.EXPECTED[name])
    assert source.ignore_label == 255 and len(source.colors) == source.num_classes
    assert os.path.isfile(image)


def test_voc_lists_follow_the_official_split_files(tmp_path):
    source = _source("voc2012", tmp_path)
    assert [n for _, _, n in source.examples("train")] == ["2007_000001", "2007_000002"]
    assert [n for _, _, n in source.examples("val")] == ["2007_000003", "2007_000004"]
    with pytest.raises(DataError, match="no split 'test'"):
        source.examples("test")


def test_sbd_reference_split_trains_on_sbd_and_validates_on_seg11valid(tmp_path):
    source = _source("sbd", tmp_path)
    train = source.examples("train")
    assert [n for _, _, n in train] == ["2008_000010", "2007_000003"]
    assert train[0][1].endswith(os.path.join("cls", "2008_000010.mat"))
    np.testing.assert_array_equal(source.read_label(train[0][1]), fx.stripes([0, 15, 20]))
    # VOC2011 val (000002, 000003, 000004) minus SBD train (000003).
    assert [n for _, _, n in source.examples("val")] == ["2007_000002", "2007_000004"]


def test_sbd_names_the_missing_official_list(tmp_path):
    fx.write_voc(str(tmp_path))
    os.remove(tmp_path / "VOCdevkit" / "VOC2011" / "ImageSets" / "Segmentation" / "val.txt")
    with pytest.raises(DataError, match="VOC2011.*val.txt"):
        get_dataset("sbd", str(tmp_path)).examples("val")
    with pytest.raises(DataError, match="benchmark_RELEASE"):
        get_dataset("sbd", str(tmp_path / "elsewhere")).examples("train")


def test_cityscapes_groups_into_seven_classes_and_resizes(tmp_path):
    source = _source("cityscapes", tmp_path, classes=7, size=(4, 10))
    assert source.class_names[0] == "road" and source.num_classes == 7
    np.testing.assert_array_equal(source.read_label(source.examples("train")[0][1]), fx.stripes([0, 6, 255, 5]))
    assert source.fixed_size == (4, 10)
    assert len(source.examples("train")) == 2 and len(source.examples("val")) == 1
    assert get_dataset("cityscapes", str(tmp_path)).resize_to == (160, 384)


def test_kitti_holds_out_every_kth_image_and_pairs_road_ground_truth(tmp_path):
    source = _source("kitti", tmp_path, val_every=2)
    val = [n for _, _, n in source.examples("val")]
    train = source.examples("train")
    assert val == ["um_000000", "um_000002", "um_000004"]
    assert [n for _, _, n in train] == ["um_000001", "um_000003"]
    assert train[0][1].endswith("um_road_000001.png")


def test_ade20k_ships_150_class_names():
    from fcn_graph.data.ade20k import ADE20K_CLASSES
    assert len(ADE20K_CLASSES) == len(set(ADE20K_CLASSES)) == 150
    assert ADE20K_CLASSES[0] == "wall" and ADE20K_CLASSES[-1] == "flag"


@pytest.mark.parametrize("colour_labels,split_files", [(True, False), (False, True)])
def test_folder_reads_colour_labels_and_split_files(tmp_path, colour_labels, split_files):
    source = get_dataset("folder", fx.write_folder(str(tmp_path), colour_labels, split_files))
    assert set(source.splits) == {"train", "val"}
    _, label, name = source.examples("val")[0]
    assert name == "val0"
    np.testing.assert_array_equal(source.read_label(label), fx.EXPECTED["folder"])


def test_folder_without_class_file_explains_the_format(tmp_path):
    with pytest.raises(DataError, match="classes.json missing"):
        get_dataset("folder", str(tmp_path))


def test_unknown_colour_is_reported_with_file_and_colour(tmp_path):
    source = _source("kitti", tmp_path)
    label = source.examples("train")[0][1]
    gt = np.array(Image.open(label))
    gt[0, 0] = (1, 2, 3)
    Image.fromarray(gt).save(label)
    with pytest.raises(DataError, match=r"um_road_000001.png.*unknown colours \(1, 2, 3\)"):
        source.read_label(label)


def test_missing_and_unreadable_files_name_the_file(tmp_path):
    source = _source("ade20k", tmp_path)
    image, label, _ = source.examples("train")[0]
    os.remove(label)
    with pytest.raises(DataError, match="label missing: .*ADE_train_00000001.png"):
        source.read_label(label)
    with open(label, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(DataError, match="label unreadable: .*ADE_train_00000001.png"):
        source.read_label(label)


def test_colour_label_where_an_index_label_is_expected_is_an_error(tmp_path):
    source = _source("ade20k", tmp_path)
    label = source.examples("train")[0][1]
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(label)
    with pytest.raises(DataError, match="RGB image; an index label"):
        source.read_label(label)


def test_synthetic_scenes_are_deterministic_distinct_and_cover_every_class(tmp_path):
    source = get_dataset("synthetic", str(tmp_path), size=(64, 96), num_train=6, num_val=2, seed=3)
    train = source.examples("train")
    assert len(train) == 6 and len(source.examples("val")) == 2
    image = np.array(Image.open(train[0][0]))
    label = source.read_label(train[0][1])
    assert image.shape == (64, 96, 3) and label.shape == (64, 96)
    again = get_dataset("synthetic", str(tmp_path / "again"), size=(64, 96), num_train=1, num_val=1,
                        seed=3).draw("train", 0)
    np.testing.assert_array_equal(again[0], image)
    np.testing.assert_array_equal(again[1], label)
    assert not np.array_equal(source.draw("val", 0)[0], image)
    labels = np.stack([source.read_label(l) for _, l, _ in train])
    assert set(np.unique(labels)) == set(range(source.num_classes))
    # Texture, not colour alone: the same class spans a wide range of colours.
    images = np.stack([np.array(Image.open(p)) for p, _, _ in train])
    for class_id in range(source.num_classes):
        assert images[labels == class_id].std(axis=0).mean() > 10


def test_synthetic_reuses_existing_files(tmp_path):
    options = dict(size=(16, 16), num_train=2, num_val=1)
    path = get_dataset("synthetic", str(tmp_path), **options).examples("train")[0][0]
    stamp = os.path.getmtime(path)
    os.utime(path, (stamp - 100, stamp - 100))
    get_dataset("synthetic", str(tmp_path), **options)
    assert os.path.getmtime(path) == stamp - 100


def test_single_image_ships_the_astronaut_by_default_with_voc_ids():
    source = get_dataset("single_image")
    image, label, name = source.examples("train")[0]
    mask = source.read_label(label)
    assert name == "astronaut" and Image.open(image).size == (512, 512)
    assert set(np.unique(mask)) == {0, 15} and source.class_names[15] == "person"
    assert 0.3 < (mask == 15).mean() < 0.6
    assert mask[300, 150] == 15 and mask[40, 440] == 0


def test_single_image_resizes_on_request():
    source = get_dataset("single_image", photo="chelsea", size=(60, 90))
    assert source.fixed_size == (60, 90) and source.resize_to == (60, 90)
    with pytest.raises(DataError, match="dog"):
        get_dataset("single_image", photo="dog")


def test_single_image_ships_the_cat_with_voc_ids():
    source = get_dataset("single_image", photo="chelsea")
    image, label, name = source.examples("train")[0]
    mask = source.read_label(label)
    assert Image.open(image).size == (451, 300) and mask.shape == (300, 451)
    assert set(np.unique(mask)) == {0, 8} and source.class_names[8] == "cat"
    assert 0.5 < (mask == 8).mean() < 0.9
    assert mask[150, 200] == 8 and mask[10, 440] == 0


def test_sbd_uses_a_shipped_seg11valid_list_as_is(tmp_path):
    source = _source("sbd", tmp_path)
    shipped = tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "seg11valid.txt"
    shipped.write_text("2007_000004\n2007_000001\n")
    assert [n for _, _, n in source.examples("val")] == ["2007_000004", "2007_000001"]


def test_cityscapes_29_colour_classes_read_the_colour_pngs(tmp_path):
    source = _source("cityscapes", tmp_path, classes=29, size=None)
    assert source.num_classes == 29 == len(set(source.colors)) == len(set(source.class_names))
    assert source.class_names[0] == "unlabeled" and "dynamic" in source.class_names
    # Every benchmark class keeps its colour among the 29.
    for name, colour in zip(TRAIN_CLASSES, TRAIN_COLORS):
        assert source.colors[source.class_names.index(name)] == colour
    _, label, _ = source.examples("train")[0]
    assert label.endswith("_gtFine_color.png")
    names = [source.class_names[i] for i in source.read_label(label)[0, :4]]
    assert names == ["road", "car", "unlabeled", "person"]


def test_cityscapes_val_fraction_holds_out_a_seeded_random_part_of_train(tmp_path):
    data = fx.write_cityscapes(str(tmp_path), num_train=20)
    official = get_dataset("cityscapes", data).examples("train")
    source = get_dataset("cityscapes", data, **parse_options(["val_fraction=0.1"]))
    train, val = source.examples("train"), source.examples("val")
    assert len(val) == 2 and len(train) == 18
    assert sorted(train + val) == sorted(official) and train == sorted(train)
    assert val == get_dataset("cityscapes", data, val_fraction=0.1).examples("val")
    assert val != get_dataset("cityscapes", data, val_fraction=0.1, split_seed=1).examples("val")
    assert val != official[:2]
    assert source.splits == ("train", "val", "official_val")
    assert [n for _, _, n in source.examples("official_val")] == ["lindau_000000_000019"]
    with pytest.raises(DataError, match="val_fraction must lie between 0 and 1"):
        get_dataset("cityscapes", data, val_fraction=1.5)


def test_ade20k_keeps_other_as_class_zero_on_request(tmp_path):
    source = _source("ade20k", tmp_path, keep_other=True, size=64)
    assert source.num_classes == 151 == len(source.colors)
    assert source.class_names[0] == "other" and source.class_names[1] == "wall"
    assert source.resize_to == (64, 64)
    np.testing.assert_array_equal(source.read_label(source.examples("train")[0][1]), fx.stripes([0, 1, 150]))
    assert get_dataset("ade20k", str(tmp_path)).num_classes == 150


def test_size_options_are_width_by_height_or_a_square(tmp_path):
    data = fx.write_kitti(str(tmp_path))
    assert get_dataset("kitti", data, **parse_options(["size=576x160"])).resize_to == (160, 576)
    assert get_dataset("kitti", data).resize_to is None
    with pytest.raises(DataError, match="kitti: size must be WIDTHxHEIGHT"):
        get_dataset("kitti", data, size="big")


def test_listing_synthetic_scenes_writes_nothing(tmp_path):
    source = get_dataset("synthetic", str(tmp_path), size=(16, 16), num_train=2, num_val=1)
    files = sorted(str(p) for p in tmp_path.rglob("*.png"))
    assert len(files) == 6
    image = source.examples("train")[1][0]
    original = np.array(Image.open(image))
    os.remove(image)
    assert source.examples("train")[1][0] == image and not os.path.exists(image)
    source.ensure_generated()
    np.testing.assert_array_equal(np.array(Image.open(image)), original)


def test_kitti_holds_out_a_seeded_random_fraction(tmp_path):
    data = fx.write_kitti(str(tmp_path), count=20)
    source = get_dataset("kitti", data, val_fraction=0.1, split_seed=3)
    val, train = source.examples("val"), source.examples("train")
    assert len(val) == 2 and len(train) == 18
    assert not {name for *_, name in val} & {name for *_, name in train}
    again = get_dataset("kitti", data, val_fraction=0.1, split_seed=3).examples("val")
    assert again == val
    assert get_dataset("kitti", data, val_every=10).examples("val") != val  # not by position
    with pytest.raises(DataError, match="val_fraction"):
        get_dataset("kitti", data, val_fraction=1.5)
