"""Each tutorial's system as its script resolves it by default, and the flag to the reference.

A script's command line resolves to a TrainConfig through its recipe; the
network is then built from that config's ModelSpec (at the smoke width) to
check the facts that define the tutorial's system. The builders' own
numerical tests are in test_nets_tutorials.py.
"""
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import data_fixtures
from fcn_graph import crf
from fcn_graph.convention import InputConvention
from fcn_graph.data import get_dataset, make_dataset
from fcn_graph.data.polygons import BUILTIN_CLASS_MAPS
from fcn_graph.demo.overfit import OverfitOptions, train_settings
from fcn_graph.errors import DataError
from fcn_graph.metrics import confusion_matrix, mean_iu_nan_as_zero, scores
from fcn_graph.models import build
from fcn_graph.recipes import RECIPES, main, parser_for, settings_for
from fcn_graph.training import resolve
from fcn_graph.training.loop import model_spec

v1 = tf.compat.v1


def script_config(name, *argv):
    spec = RECIPES[name]
    base, overrides = settings_for(spec, parser_for(spec).parse_args([str(a) for a in argv]))
    return resolve(overrides, base=base)


def built(config, height=64, width=64, num_classes=3):
    """End points, variable names and op types of the network `config` describes, at 1/16
    width."""
    spec = model_spec(resolve({"width": 1 / 16, "num_classes": num_classes}, base=config.given()),
                      InputConvention())
    with tf.Graph().as_default() as graph:
        net = build(spec, tf.zeros([1, height, width, 3]))
        names = {v.op.name for v in v1.global_variables()}
        return net.end_points, names, {op.type for op in graph.get_operations()}


def solver(config):
    return (config.optimizer, config.lr, config.lr_policy, config.loss_normalize,
            config.weight_decay, config.batch_size, config.crop_size, config.augment)


# ---- 000: the small FCN on 7-class Cityscapes ------------------------------------------------

def test_small_fcn_tutorial_by_default():
    c = script_config("cityscapes7_simple_fcn", "--data-dir", "cityscapes")
    assert c.model == "simple_fcn" and c.net_options == {"upsampling": "resize",
                                                         "initializer": "glorot_uniform"}
    assert c.seed == 31415 and c.width == 1.0
    assert solver(c) == ("adam", 1e-3, "poly", "mean", 0.0, 10, None, False)
    assert c.lr_power == 1.0 and c.max_steps == 30 * 2975 // 10 and c.eval_every == 298
    assert c.dataset == "cityscapes" and c.dataset_options == {"classes": 7, "size": (160, 384)}
    _, _, ops = built(c)
    assert "ResizeBilinear" in ops and "Conv2DBackpropInput" not in ops


def test_small_fcn_skip_model_and_reference_flags():
    skips = script_config("cityscapes7_simple_fcn", "--skips")
    assert skips.model == "simple_fcn_skips" and skips.net_options["skip_stem"] is False
    _, names, _ = built(skips)
    assert "fuse1/weights" in names and "fuse0/weights" not in names
    assert skips.seed == 31415
    reference = script_config("cityscapes7_simple_fcn", "--upsampling", "deconv",
                              "--initializer", "he")
    assert reference.net_options == {"upsampling": "deconv", "initializer": "he"}
    _, _, ops = built(reference)
    assert "ResizeBilinear" not in ops and "Conv2DBackpropInput" in ops
    assert script_config("cityscapes7_simple_fcn", "--smoke").seed == 31415


# ---- 001: the VGG16 FCN-8s on KITTI road and Cityscapes --------------------------------------

@pytest.mark.parametrize("name, dataset, options, steps", [
    ("kitti_road_fcn8s", "kitti", {"size": (160, 576), "val_fraction": 0.1}, 500 * 260 // 20),
    ("cityscapes_fcn8s", "cityscapes", {"classes": 29, "size": (256, 512)}, 22313),
])
def test_road_scenes_fcn8s_tutorial_by_default(name, dataset, options, steps):
    c = script_config(name, "--weights", "vgg16.npy")
    assert c.model == "fcn8s-direct" and (c.backbone, c.geometry, c.width) == ("vgg16", "same",
                                                                               1.0)
    assert solver(c) == ("adam", 1e-4, "fixed", "mean", 0.0, 20, None, False)
    assert c.max_steps == steps and c.dropout_rate is None  # the network's 0.5
    assert c.dataset == dataset and c.dataset_options == dict(
        options, image_resize="bilinear", label_resize="nearest")
    # KITTI: a random tenth held out, as the tutorial does; Cityscapes: the official val split.
    assert ("val_fraction" in c.dataset_options) == (dataset == "kitti")
    end_points, names, _ = built(c)
    assert {"upscore8/weights", "upscore16/weights", "upscore32/weights"} <= names
    assert end_points["score"].op.type == "AddN" and "fuse_pool4" not in end_points


def test_road_scenes_reference_head_and_the_label_bug_flag():
    reference = script_config("kitti_road_fcn8s", "--weights", "w.npy", "--head", "reference")
    assert reference.model == "fcn8s"
    assert "fuse_pool4" in built(reference)[0]
    bug = script_config("cityscapes_fcn8s", "--weights", "w.npy", "--label-resize", "bilinear")
    assert bug.dataset_options["label_resize"] == "bilinear"
    assert bug.dataset_options["classes"] == 29


def test_a_saved_model_gets_the_tutorials_convention_unless_told(tmp_path):
    saved = tmp_path / "vgg"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    c = script_config("kitti_road_fcn8s", "--weights", saved)
    assert c.weights_channel_order == "BGR" and c.weights_mean == (123.68, 116.779, 103.939)
    told = script_config("kitti_road_fcn8s", "--weights", saved, "--channel-order", "rgb",
                         "--mean", "1,2,3")
    assert told.weights_channel_order == "RGB" and told.weights_mean == (1.0, 2.0, 3.0)
    npy = script_config("kitti_road_fcn8s", "--weights", tmp_path / "vgg16.npy")
    assert npy.weights_channel_order is None and npy.weights_mean is None


def first_label(source):
    with tf.Graph().as_default():
        batch = v1.data.make_one_shot_iterator(make_dataset(
            source, "val", shuffle=False, repeat=False)).get_next()
        with v1.Session() as sess:
            return sess.run(batch["label"])[0]


def test_the_tutorials_label_resize_is_colour_blending_then_exact_matching(tmp_path):
    """KITTI columns: background x3, road x4, unlabelled black x1 (see data_fixtures)."""
    root = data_fixtures.write_kitti(str(tmp_path))
    options = dict(size=(3, 4), val_every=2)
    nearest = first_label(get_dataset("kitti", root, **options))
    blended = first_label(get_dataset("kitti", root, label_resize="bilinear", **options))
    np.testing.assert_array_equal(nearest, [[0, 1, 1, 255]] * 3)
    # Columns 1 (background | road) and 3 (road | black) blend; black is no class colour.
    np.testing.assert_array_equal(blended, [[0, 0, 1, 0]] * 3)
    # The same as resizing the colour label bilinearly and matching road exactly.
    colour = Image.open(os.path.join(root, "data_road", "training", "gt_image_2",
                                     "um_road_000000.png")).convert("RGB")
    resized = tf.image.resize(np.asarray(colour, np.float32), (3, 4), antialias=False).numpy()
    road = np.all(resized == (255, 0, 255), axis=-1)
    np.testing.assert_array_equal(blended == 1, road)
    with pytest.raises(DataError, match="label_resize must be one of nearest, bilinear"):
        get_dataset("kitti", root, label_resize="cubic")


# ---- 002: the U-Net on labelled street photos ------------------------------------------------

def test_unet_tutorial_by_default():
    c = script_config("unet_multiclass", "--data-dir", "photos")
    assert c.model == "unet" and c.net_options == {"style": "tf_example"} and c.width == 1.0
    assert solver(c)[:6] == ("adam", 1e-3, "fixed", "mean", 0.0, 3)
    assert c.crop_size is None and c.augment == {"flip": True, "scale_range": (1.0, 1.0),
                                                 "hue_delta": 0.1, "max_shift": 0.1,
                                                 "shift_fill": "ignore"}
    assert script_config("unet_multiclass", "--shift-fill", "zero").augment["shift_fill"] == \
        "zero"
    assert c.max_steps == 2667  # 100 epochs of 80 photos in batches of 3
    assert c.dataset == "folder" and c.dataset_options == {"size": (256, 256),
                                                           "image_resize": "bilinear"}
    end_points, names, _ = built(c, 64, 64)
    assert "concat0/BatchNorm/gamma" in names and "bottom_1" in end_points
    paper = script_config("unet_multiclass", "--net", "paper")
    assert paper.net_options == {"style": "paper"}
    assert not any("BatchNorm" in name for name in built(paper, 64, 64)[1])


def test_the_tutorials_mean_iou_sets_absent_classes_to_zero():
    gt = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 1, 2])
    hist = confusion_matrix(gt, pred, 4)
    # IoUs 1/2, 3/4, 1 and class 3 absent (NaN): 0 here, left out of the reference mean.
    assert mean_iu_nan_as_zero(hist) == pytest.approx((0.5 + 0.75 + 1 + 0) / 4)
    assert scores(hist)["mean_iu"] == pytest.approx((0.5 + 0.75 + 1) / 3)


def write_tutorial_records(path, rng, count):
    """Records as the tutorial writes them: `image` and `mask`, each an encoded file's bytes,
    the mask painted as RGB (i, i, i)."""
    def encoded(array):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            image = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
            mask = np.repeat(rng.integers(0, 8, (20, 28, 1), dtype=np.uint8), 3, axis=2)
            feature = {key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded(a)]))
                       for key, a in (("image", image), ("mask", mask))}
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())


def test_unet_smoke_reads_the_tutorials_records_with_labelbox8_and_prints_its_miou(
        tmp_path):
    classes = tmp_path / "photos"
    classes.mkdir()
    names = list(BUILTIN_CLASS_MAPS["labelbox8"])
    (classes / "classes.json").write_text(json.dumps(
        {"classes": names, "colors": [[i, i, i] for i in range(len(names))]}))
    rng = np.random.default_rng(0)
    write_tutorial_records(tmp_path / "train.tfrecord", rng, 3)
    write_tutorial_records(tmp_path / "test.tfrecord", rng, 2)
    stream = io.StringIO()
    result = main("unet_multiclass", ["--smoke", "--data-dir", str(classes), "--tfrecords",
                                      str(tmp_path / "train.tfrecord"), "--val-tfrecords",
                                      str(tmp_path / "test.tfrecord"), "--tutorial-miou",
                                      "--out", str(tmp_path / "run")], stream=stream)
    log = stream.getvalue()
    assert result["config"].num_classes == 8
    lines = [line for line in log.splitlines() if "the tutorial's mean IoU" in line]
    assert len(lines) == 2  # after each of the two evaluations
    assert 0.0 <= float(lines[-1].split()[-1]) <= 100.0
    assert result["validation"]["num_images"] == 2


# ---- 003: FCN-32s on one photo, then a dense CRF ---------------------------------------------

def test_single_image_tutorial_by_default(tmp_path):
    options = OverfitOptions(weights="vgg_16.ckpt")
    c = resolve(train_settings(options, "fcn32s", str(tmp_path)),
                source=get_dataset("single_image", photo="chelsea", two_class=True))
    assert c.model == "fcn32s" and c.net_options == {"score_init": "glorot_uniform"}
    assert (c.geometry, c.backbone, c.width, c.dropout_rate) == ("same", "vgg16", 1.0, 0.5)
    assert solver(c) == ("adam", 1e-4, "fixed", "sum", 0.0, 1, None, False)
    assert c.max_steps == 10 and c.num_classes == 2
    assert c.dataset_options == {"photo": "chelsea", "two_class": True}  # its own size
    end_points, names, _ = built(c, num_classes=2)
    assert "upscore/weights" in names and "fuse_pool4" not in end_points
    assert crf.PRESETS["tutorial"] == {
        "iterations": 5, "gaussian_sxy": 10, "gaussian_compat": 3, "bilateral_sxy": 50,
        "bilateral_srgb": 20, "bilateral_compat": 10, "kernel": "diag",
        "normalization": "symmetric"}
    comparison = OverfitOptions(preset="comparison")
    assert comparison.chosen.models == ("fcn32s", "fcn8s")
    c = resolve(train_settings(comparison, "fcn8s", str(tmp_path)))
    assert c.net_options == {} and c.dataset_options["two_class"] is False


def test_two_classes_are_the_object_against_everything_else():
    source = get_dataset("single_image", photo="chelsea", two_class=True)
    assert source.class_names == ("background", "cat")
    label = source.read_label(source.examples("train")[0][1])
    voc = get_dataset("single_image", photo="chelsea").read_label(
        source.examples("train")[0][1])
    np.testing.assert_array_equal(label, (voc == 8).astype(np.uint8))
    assert 0 < label.mean() < 1


# ---- 004: the VGG19 FCN on ADE20K ------------------------------------------------------------

def test_ade20k_tutorial_by_default():
    c = script_config("ade20k_fcn8s_vgg19", "--weights", "imagenet-vgg-verydeep-19.mat")
    assert c.model == "fcn8s-features" and (c.backbone, c.geometry) == ("vgg19", "same")
    assert c.dataset_options == {"size": 224, "image_resize": "nearest", "keep_other": True}
    assert c.matconvnet_swap_hw is False
    assert solver(c)[:6] == ("adam", 1e-4, "fixed", "mean", 0.0, 2)
    source = get_dataset("ade20k", "ade", **c.dataset_options)
    assert source.num_classes == 151 and source.label_resize == "nearest"
    end_points, names, _ = built(c, num_classes=151)
    assert end_points["upscore2"].shape[-1] == end_points["pool4"].shape[-1]
    assert "score_pool4/weights" not in names


def test_ade20k_flags_reach_the_reference_and_the_swap_bug():
    c = script_config("ade20k_fcn8s_vgg19", "--weights", "w.mat", "--head", "reference",
                      "--classes", "150", "--matconvnet-swap-hw")
    assert c.model == "fcn8s" and c.dataset_options["keep_other"] is False
    assert c.matconvnet_swap_hw is True
    assert get_dataset("ade20k", "ade", **c.dataset_options).num_classes == 150
