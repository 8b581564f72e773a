"""Every replication script's --smoke mode on tiny fixtures in the real data layouts.

The scripts run in-process through `runpy`, exactly as `python scripts/X.py`
would, with the recipe's full-run code path at 1/16 width and two steps.
"""
import json
import os
import runpy
import sys

import numpy as np
import pytest
import tensorflow as tf

import data_fixtures
from fcn_graph.errors import UsageError
from fcn_graph.fcn import VARIANTS
from fcn_graph.recipes import RECIPES, comparison, parser_for, settings_for
from fcn_graph.rundir import load_record
from fcn_graph.training import resolve

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")


def run_script(name, *args, monkeypatch, capsys, status=0):
    """Run scripts/NAME.py as `python` would; check its exit status; return what it printed."""
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(os.path.join(SCRIPTS, f"{name}.py"), run_name="__main__")
    err = capsys.readouterr().err
    assert exit_info.value.code == status, err
    return err


def script_config(spec, argv):
    base, overrides = settings_for(spec, parser_for(spec).parse_args(argv))
    return resolve(overrides, base=base)


def checkpoint_of(run_dir):
    return tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))


def test_every_recipe_has_a_script_and_a_readme_section():
    readme = open(os.path.join(SCRIPTS, "README.md")).read()
    for name in list(RECIPES) + ["voc_eval_caffe_model", "single_image_fcn32s"]:
        assert os.path.isfile(os.path.join(SCRIPTS, f"{name}.py"))
        assert any(line.startswith("## ") and f"`{name}`" in line
                   for line in readme.splitlines()), name


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_help_names_the_common_options(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(os.path.join(SCRIPTS, f"{name}.py"), run_name="__main__")
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data-dir", "--weights", "--out", "--smoke"):
        assert option in text


def test_the_reference_solver_and_its_adam_variant_are_data():
    spec = RECIPES["voc_fcn16s"]
    reference = script_config(spec, ["--weights", "vgg16.npy"])
    assert (reference.optimizer, reference.lr, reference.momentum, reference.weight_decay,
            reference.loss_normalize, reference.batch_size, reference.max_steps,
            reference.eval_every) == ("sgd", 1e-12, 0.99, 5e-4, "sum", 1, 100_000, 4000)
    assert reference.geometry == "caffe"
    adam = script_config(spec, ["--weights", "vgg16.npy", "--adam"])
    assert (adam.optimizer, adam.loss_normalize, adam.weight_decay) == ("adam", "mean", 0.0)
    smoke = script_config(spec, ["--smoke", "--adam"])
    assert smoke.max_steps == 2 and smoke.width == 1 / 16 and smoke.optimizer == "adam"
    assert RECIPES["voc_fcn8s_atonce"].config["max_steps"] == 300_000


@pytest.mark.parametrize("name, lr, steps", [("voc_fcn32s", 1e-10, 100_000),
                                              ("voc_fcn16s", 1e-12, 100_000),
                                              ("voc_fcn8s", 1e-14, 100_000),
                                              ("voc_fcn8s_atonce", 1e-10, 300_000)])
def test_voc_recipes_are_the_published_solver(name, lr, steps):
    spec = RECIPES[name]
    c = script_config(spec, ["--weights", "vgg16.npy"])
    assert (c.optimizer, c.lr, c.lr_policy, c.momentum, c.weight_decay, c.bias_lr_mult,
            c.loss_normalize) == ("sgd", lr, "fixed", 0.99, 5e-4, 2.0, "sum")
    assert (c.batch_size, c.accumulate, c.crop_size, c.augment) == (1, 1, None, False)
    assert (c.max_steps, c.eval_every, c.eval_images) == (steps, 4000, None)
    assert (c.geometry, c.backbone, c.width) == ("caffe", "vgg16", 1.0)
    # Left to the network: the reference heads' fixed deconvolutions, dropout 0.5.
    assert c.learn_upsampling is None and c.dropout_rate is None
    assert not VARIANTS[c.model].learn_upsampling
    assert c.model == name[len("voc_"):].replace("_", "-")


def test_a_full_run_without_a_starting_point_is_refused():
    spec = RECIPES["voc_fcn8s"]
    with pytest.raises(UsageError, match="--init-from"):
        script_config(spec, [])


def test_published_numbers_beside_ours():
    table = comparison({"pixel_accuracy": 0.9012, "mean_iu": 0.6}, RECIPES["voc_fcn8s"].targets,
                       step=4000)
    assert table.startswith("step 4000: ours: pixel acc 90.1  mean IU 60.0")
    assert "mean IU 62.7" in table and "mean IU 65.5" in table
    assert table.count("CVPR") == 1
    table = comparison({"mean_iu": 0.5}, RECIPES["voc_fcn32s"].targets)
    assert "ours: mean IU 50.0" in table and "mean IU 63.6" in table


def test_voc_stages_smoke_each_initialised_from_the_previous(tmp_path, monkeypatch, capsys):
    data = data_fixtures.write_voc(str(tmp_path / "data"))
    previous = None
    for name in ("voc_fcn32s", "voc_fcn16s", "voc_fcn8s"):
        out = tmp_path / name
        args = ["--smoke", "--data-dir", data, "--out", out]
        if previous:
            args += ["--init-from", previous]
        log = run_script(name, *args, monkeypatch=monkeypatch, capsys=capsys)
        assert "CVPR 2015 Table 2 (seg11valid)" in log and "PAMI released model" in log
        assert checkpoint_of(str(out))
        record = load_record(str(out))
        assert record.model.geometry == "caffe" and record.settings["optimizer"] == "sgd"
        if previous:
            before = tf.train.load_variable(checkpoint_of(previous), "conv1_1/weights")
            # SGD at 1e-12 / 1e-14 moves nothing visible in two steps: the stage starts
            # from the previous one's weights, not from a fresh initialisation.
            np.testing.assert_allclose(
                tf.train.load_variable(checkpoint_of(str(out)), "conv1_1/weights"), before,
                atol=1e-6)
        previous = str(out)


def test_voc_atonce_adam_smoke(tmp_path, monkeypatch, capsys):
    data = data_fixtures.write_voc(str(tmp_path / "data"))
    log = run_script("voc_fcn8s_atonce", "--smoke", "--adam", "--data-dir", data,
                     "--out", tmp_path / "run", monkeypatch=monkeypatch, capsys=capsys)
    assert "mean IU 65.4" in log
    assert load_record(str(tmp_path / "run")).settings["optimizer"] == "adam"


@pytest.mark.parametrize("name,writer,extra,model,classes", [
    ("cityscapes7_simple_fcn", data_fixtures.write_cityscapes, [], "simple_fcn", 7),
    ("cityscapes7_simple_fcn", data_fixtures.write_cityscapes, ["--skips"], "simple_fcn_skips",
     7),
    ("kitti_road_fcn8s", data_fixtures.write_kitti, [], "fcn8s-direct", 2),
    ("cityscapes_fcn8s", data_fixtures.write_cityscapes, [], "fcn8s-direct", 29),
    ("ade20k_fcn8s_vgg19", data_fixtures.write_ade20k, [], "fcn8s-features", 151),
    ("unet_multiclass", data_fixtures.write_folder, [], "unet", 3),
])
def test_dataset_scripts_smoke(name, writer, extra, model, classes, tmp_path, monkeypatch,
                               capsys):
    """Each tutorial's script runs its own system by default."""
    root = tmp_path / "data"
    root.mkdir()
    data = writer(str(root))
    if name == "ade20k_fcn8s_vgg19":
        data = os.path.join(data, "ADEChallengeData2016")
    if name == "kitti_road_fcn8s":
        data = os.path.join(data, "data_road")
    out = tmp_path / "run"
    log = run_script(name, "--smoke", "--data-dir", data, "--out", out, *extra,
                     monkeypatch=monkeypatch, capsys=capsys)
    record = load_record(str(out))
    # Smoke runs validate after each of their two steps: the comparison follows both.
    assert "step 1: ours:" in log and "step 2: ours:" in log
    assert checkpoint_of(str(out))
    assert record.model.name == model
    assert record.num_classes == classes


def test_single_image_script_smoke_trains_fcn32s_on_the_cat_then_refines(tmp_path, monkeypatch,
                                                                         capsys):
    figure = tmp_path / "figure.png"
    log = run_script("single_image_fcn32s", "--smoke", "--out", figure, "--run-dir",
                     tmp_path / "runs", monkeypatch=monkeypatch, capsys=capsys)
    record = load_record(str(tmp_path / "runs" / "fcn32s"))
    assert record.model.name == "fcn32s" and record.class_names == ("background", "cat")
    assert record.settings["max_steps"] == 2 and record.settings["loss_normalize"] == "sum"
    assert "FCN-32s        mean IU" in log and figure.exists()
    assert not (tmp_path / "runs" / "fcn8s").exists()


def test_single_image_script_refuses_the_tutorial_without_weights(tmp_path, monkeypatch,
                                                                  capsys):
    err = run_script("single_image_fcn32s", "--out", tmp_path / "figure.png",
                     monkeypatch=monkeypatch, capsys=capsys, status=2)
    assert "--weights vgg_16.ckpt" in err and "Traceback" not in err


def test_eval_caffe_model_names_a_missing_file(tmp_path, monkeypatch, capsys):
    err = run_script("voc_eval_caffe_model", "--model", "fcn8s", "--weights",
                     tmp_path / "missing.caffemodel", "--data-dir", tmp_path, "--smoke",
                     monkeypatch=monkeypatch, capsys=capsys, status=1)
    assert "missing.caffemodel" in err and "Traceback" not in err


def test_eval_caffe_model_smoke_scores_a_released_style_caffemodel(tmp_path, monkeypatch, capsys):
    """A 1/16-wide FCN-8s caffemodel with its heads, scored on the VOC/SBD fixture."""
    from caffe_files import caffe_blobs, caffe_net, vgg_records
    from fcn_graph import bilinear_kernel
    from fcn_graph.weights.synthetic import random_weights
    classes, width = 21, 1 / 16
    backbone = random_weights("vgg16", width=width, seed=2, fc8_classes=None)
    rng = np.random.default_rng(0)
    records = vgg_records(backbone, fc_type="Convolution")
    for name, channels in (("score_fr", 256), ("score_pool4", 32), ("score_pool3", 16)):
        kernel = rng.normal(0, 0.05, (1, 1, channels, classes)).astype(np.float32)
        records.append((name, "Convolution", caffe_blobs(name, kernel, np.zeros(classes),
                                                         "Convolution")))
    for name, factor in (("upscore2", 2), ("upscore_pool4", 2), ("upscore8", 8)):
        records.append((name, "Deconvolution",
                        [bilinear_kernel(factor, classes).transpose(3, 2, 0, 1)]))
    model = tmp_path / "fcn8s-heavy-pascal.caffemodel"
    model.write_bytes(caffe_net(records, legacy=False).SerializeToString())
    data = data_fixtures.write_voc(str(tmp_path / "data"))
    scores = tmp_path / "scores.json"
    log = run_script("voc_eval_caffe_model", "--model", "fcn8s", "--weights", model,
                     "--data-dir", data, "--smoke", "--out", scores,
                     monkeypatch=monkeypatch, capsys=capsys)
    assert "ours: pixel acc" in log and "mean IU 65.5" in log
    written = json.load(open(scores))
    assert 0.0 <= written["pixel_accuracy"] <= 1.0 and len(written["per_class_iu"]) == classes


def test_unet_smoke_from_tfrecords(tmp_path, monkeypatch, capsys):
    from fcn_graph.data import get_dataset
    from fcn_graph.data.tfrecord import write_tfrecords
    data = data_fixtures.write_folder(str(tmp_path / "data"))
    source = get_dataset("folder", data)
    records = tmp_path / "records"
    for split in ("train", "val"):
        write_tfrecords(source, split, str(records))
    out = tmp_path / "run"
    log = run_script("unet_multiclass", "--smoke", "--dataset", "folder", "--data-dir", data,
                     "--tfrecords", records / "train-*.tfrecord",
                     "--val-tfrecords", records / "val-*.tfrecord", "--out", out,
                     monkeypatch=monkeypatch, capsys=capsys)
    assert "step 2: ours:" in log and checkpoint_of(str(out))
    record = load_record(str(out))
    assert record.model.name == "unet" and record.settings["tfrecords"].endswith("train-*.tfrecord")


def test_a_resumed_recipe_continues_with_its_recorded_settings(tmp_path, monkeypatch, capsys):
    """Resumed without --smoke, the run keeps the smoke run's width, crops and batch size."""
    data = data_fixtures.write_folder(str(tmp_path / "data"))
    out = tmp_path / "run"
    run_script("unet_multiclass", "--smoke", "--dataset", "folder", "--data-dir", data,
               "--max-steps", 1, "--out", out, monkeypatch=monkeypatch, capsys=capsys)
    first = load_record(str(out))
    run_script("unet_multiclass", "--resume", "--dataset", "folder", "--max-steps", 2,
               "--out", out, monkeypatch=monkeypatch, capsys=capsys)
    resumed = load_record(str(out))
    assert resumed.model == first.model and resumed.model.width == 1 / 16
    for name in ("crop_size", "batch_size", "seed", "data_dir", "eval_images"):
        assert resumed.settings[name] == first.settings[name], name
    assert resumed.settings["max_steps"] == 2
    assert tf.train.load_variable(checkpoint_of(str(out)), "global_step") == 2
