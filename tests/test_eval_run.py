"""`evaluate_run` and `fcn-graph eval` on a tiny run directory over synthetic scenes.

`make_run` writes what `fcn-graph train` leaves behind (config.json and a
Saver checkpoint under checkpoints/) for a narrow network with random
weights, so evaluation, inference and export are tested without training.
"""
import argparse
import importlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.data import get_dataset
from fcn_graph.metrics import confusion_matrix
from fcn_graph.models import build_model

v1 = tf.compat.v1

SYNTHETIC_OPTIONS = {"size": (24, 32), "num_train": 1, "num_val": 3}
SYNTHETIC_CLASSES = 6


def make_run(run_dir, data_dir, model="fcn8s", geometry="caffe", width=1 / 16, seed=0):
    """A run directory whose checkpoint holds random He-scaled weights (score layers included)."""
    config = {
        "model": model, "num_classes": SYNTHETIC_CLASSES, "backbone": "vgg16",
        "geometry": geometry, "width": width, "learn_upsampling": False,
        "class_names": ["sky", "building", "road", "vegetation", "vehicle", "person"],
        "colors": [[70, 130, 180], [70, 70, 70], [128, 64, 128], [107, 142, 35], [0, 0, 142],
                   [220, 20, 60]],
        "ignore_label": 255, "channel_order": "BGR", "mean": list(REFERENCE_BGR_MEAN),
        "dataset": "synthetic", "data_dir": str(data_dir),
        "dataset_options": dict(SYNTHETIC_OPTIONS, size=list(SYNTHETIC_OPTIONS["size"])),
    }
    os.makedirs(os.path.join(run_dir, "checkpoints"))
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f)
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        images = v1.placeholder(tf.float32, [1, None, None, 3])
        options = {"backbone": "vgg16", "geometry": geometry, "width": width} \
            if model.startswith("fcn") else {"width": width}
        build_model(model, images, SYNTHETIC_CLASSES, **options)
        # Fixed bilinear deconvolutions keep their initial values, as in training.
        randomised = [v for v in v1.global_variables() if "upscore" not in v.name]
        feeds = {v: v1.placeholder(tf.float32, v.shape) for v in randomised}
        assign = tf.group(*[v.assign(p) for v, p in feeds.items()])
        init = v1.global_variables_initializer()
        saver = v1.train.Saver()
    values = {}
    for v, p in feeds.items():
        fan_in = int(np.prod(v.shape[:-1])) if len(v.shape) > 1 else 100
        values[p] = rng.normal(0.0, np.sqrt(2.0 / fan_in), v.shape).astype(np.float32)
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(assign, values)
        saver.save(sess, os.path.join(run_dir, "checkpoints", "model.ckpt"), global_step=1)
    return config


def run_command(name, argv):
    """Run one `fcn-graph` sub-command as the CLI would, independent of the other commands."""
    parser = argparse.ArgumentParser(prog="fcn-graph")
    importlib.import_module(f"fcn_graph.commands.{name}").register(parser.add_subparsers())
    args = parser.parse_args([name] + list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    make_run(str(root / "run"), root / "data")
    return str(root / "run"), str(root / "data")


def test_one_confusion_matrix_over_the_split_matches_image_by_image(tiny_run):
    from fcn_graph.evaluation import evaluate_run
    from fcn_graph.inference import predict
    run_dir, data_dir = tiny_run
    result = evaluate_run(run_dir)
    assert result["num_images"] == SYNTHETIC_OPTIONS["num_val"]
    assert result["class_names"][2] == "road"
    source = get_dataset("synthetic", data_dir, **SYNTHETIC_OPTIONS)
    examples = source.examples("val")
    predictions = predict(run_dir, [image for image, _, _ in examples])
    expected = sum(confusion_matrix(source.read_label(label), pred, SYNTHETIC_CLASSES)
                   for (_, label, _), pred in zip(examples, predictions))
    np.testing.assert_array_equal(result["confusion_matrix"], expected)
    height, width = SYNTHETIC_OPTIONS["size"]
    assert np.sum(expected) == len(examples) * height * width
    # Random weights must not predict one class everywhere, or the check above says little.
    assert np.count_nonzero(np.sum(expected, axis=0)) > 1
    assert 0.0 <= result["mean_iu"] <= 1.0
    assert len(result["per_class_accuracy"]) == SYNTHETIC_CLASSES


def test_max_images_and_a_checkpoint_prefix(tiny_run):
    from fcn_graph.evaluation import evaluate_run
    run_dir, _ = tiny_run
    prefix = os.path.join(run_dir, "checkpoints", "model.ckpt-1")
    result = evaluate_run(prefix, max_images=1)
    assert result["num_images"] == 1
    assert result["checkpoint"] == prefix
    assert np.sum(result["confusion_matrix"]) == np.prod(SYNTHETIC_OPTIONS["size"])


def test_crf_scores_the_same_images_twice(tiny_run):
    from fcn_graph import crf
    from fcn_graph.evaluation import evaluate_run
    if not crf.available():
        pytest.skip("pydensecrf is not installed")
    from fcn_graph.inference import Segmenter
    run_dir, data_dir = tiny_run
    result = evaluate_run(run_dir, crf=True, max_images=2)
    plain, refined = np.array(result["confusion_matrix"]), np.array(
        result["crf_scores"]["confusion_matrix"])
    # The plain row is what evaluation without the CRF reports.
    np.testing.assert_array_equal(plain, evaluate_run(run_dir, max_images=2)["confusion_matrix"])
    # The refined row scores the same pixels against the same ground truth, each
    # prediction being the CRF refinement of that image's own probabilities.
    source = get_dataset("synthetic", data_dir, **SYNTHETIC_OPTIONS)
    expected = np.zeros_like(refined)
    with Segmenter(run_dir, crf=True) as segmenter:
        for image, label, _ in source.examples("val")[:2]:
            expected += confusion_matrix(source.read_label(label), segmenter.segment(image)[0],
                                         SYNTHETIC_CLASSES)
    np.testing.assert_array_equal(refined, expected)
    assert 0.0 <= result["crf_scores"]["pixel_accuracy"] <= 1.0


def test_cli_prints_the_table_and_writes_json(tiny_run, tmp_path, capsys):
    run_dir, _ = tiny_run
    out = tmp_path / "scores.json"
    assert run_command("eval", ["--checkpoint", run_dir, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for text in ("vegetation", "IoU", "pixel accuracy", "mean IU", "f.w. IU", "3 images"):
        assert text in printed
    saved = json.loads(out.read_text())
    assert saved["num_images"] == 3
    assert len(saved["per_class_iu"]) == SYNTHETIC_CLASSES
    assert saved["class_names"][0] == "sky"


def test_wrong_dataset_is_refused_with_the_reason(tiny_run, tmp_path):
    from fcn_graph.evaluation import evaluate_run
    run_dir, _ = tiny_run
    with pytest.raises(ValueError, match="21 classes"):
        evaluate_run(run_dir, dataset="voc2012", data_dir=str(tmp_path))


def test_missing_checkpoint_names_the_path(tmp_path):
    from fcn_graph.evaluation import evaluate_run
    from fcn_graph.inference import CheckpointError
    with pytest.raises(CheckpointError, match="no checkpoint"):
        evaluate_run(str(tmp_path))


def test_format_table_marks_absent_classes():
    from fcn_graph.evaluation import format_table
    scores = {"per_class_iu": [0.5, float("nan")], "per_class_accuracy": [0.25, float("nan")],
              "pixel_accuracy": 0.9, "mean_accuracy": 0.25, "mean_iu": 0.5, "fw_iu": 0.5}
    table = format_table(scores, ["road", "car"])
    lines = table.splitlines()
    assert lines[1].split() == ["road", "50.00", "25.00"]
    assert lines[2].split() == ["car", "n/a", "n/a"]
    assert "90.00" in table


def test_accumulate_confusion_loops_until_the_iterator_ends():
    from fcn_graph.evaluation import accumulate_confusion
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, (5, 4, 6)).astype(np.int32)
    labels[:, 0, 0] = 255
    preds = rng.integers(0, 3, (5, 4, 6)).astype(np.int32)
    graph = tf.Graph()
    with graph.as_default():
        dataset = tf.data.Dataset.from_tensor_slices((preds, labels)).batch(2)
        iterator = v1.data.make_initializable_iterator(dataset)
        pred, label = iterator.get_next()
    with v1.Session(graph=graph) as sess:
        hist = accumulate_confusion(sess, pred, label, 3, init_op=iterator.initializer)
        # Re-initialised, two batches of two images only.
        partial = accumulate_confusion(sess, pred, label, 3, max_batches=2,
                                       init_op=iterator.initializer)
    np.testing.assert_array_equal(hist, confusion_matrix(labels, preds, 3))
    np.testing.assert_array_equal(partial, confusion_matrix(labels[:4], preds[:4], 3))
    assert hist.sum() == 5 * (4 * 6 - 1)


def test_a_run_written_by_the_trainer_scores_as_its_final_validation(tmp_path):
    from fcn_graph.evaluation import evaluate_run
    from fcn_graph.training import TrainConfig, train
    trained = train(TrainConfig(
        model="fcn32s", geometry="caffe", width=1 / 16, dataset="synthetic",
        data_dir=str(tmp_path / "data"), dataset_options=dict(SYNTHETIC_OPTIONS, num_train=2),
        crop_size=None, batch_size=1, max_steps=2, save_every=2, eval_every=2, seed=0,
        run_dir=str(tmp_path / "run")))
    result = evaluate_run(str(tmp_path / "run"))
    assert result["checkpoint"] == trained["checkpoint"]
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu"):
        assert result[key] == pytest.approx(trained["validation"][key])
