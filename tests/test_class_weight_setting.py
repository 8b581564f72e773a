"""--class-weights: computed from the training labels, recorded, printed, and used by the loss."""
import io
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from data_fixtures import write_kitti
from fcn_graph.data import get_dataset
from fcn_graph.errors import SettingsError
from fcn_graph.models import ModelSpec
from fcn_graph.rundir import load_record
from fcn_graph.training import train
from fcn_graph.training.towers import build_tower_loss, loss_class_weights

v1 = tf.compat.v1


def test_median_frequency_weights_are_counted_recorded_and_printed(tmp_path):
    data_dir = write_kitti(str(tmp_path / "kitti"))
    log = io.StringIO()
    train(dict(model="simple_fcn", dataset="kitti", data_dir=data_dir, crop_size=None,
               batch_size=1, max_steps=1, eval_every=1, seed=0, run_dir=str(tmp_path / "run"),
               class_weights="median-frequency"), stream=log)
    source = get_dataset("kitti", data_dir)
    labels = [source.read_label(label) for _, label, _ in source.examples("train")]
    assert len(labels) == 4
    # freq_c = pixels of c / labelled pixels of the images holding c; weight = median / freq_c.
    pixels = np.array([sum(np.sum(label == c) for label in labels) for c in (0, 1)])
    holding = np.array([sum(np.sum(label != 255) for label in labels if np.any(label == c))
                        for c in (0, 1)])
    frequency = pixels / holding
    expected = np.median(frequency) / frequency
    recorded = load_record(str(tmp_path / "run")).settings["class_weights"]
    np.testing.assert_allclose(recorded, expected, rtol=1e-5)
    assert recorded[0] != pytest.approx(recorded[1])  # the fixture's classes differ in size
    assert f"loss class weights: background {recorded[0]:.4g}, road {recorded[1]:.4g}" \
        in log.getvalue()


def tower_loss(class_weights, normalize="sum"):
    """The loss of a two-class network on a fixed batch (left half class 0, right half 1),
    for each weighting, one network sharing its variables."""
    spec = ModelSpec(name="simple_fcn", num_classes=2, width=0.25)
    source = SimpleNamespace(num_classes=2, ignore_label=255)
    images = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
    labels = np.zeros((1, 16, 16), np.int32)
    labels[..., 8:] = 1
    labels[0, 0, 0] = 255
    graph = tf.Graph()
    with graph.as_default(), v1.variable_scope("", reuse=v1.AUTO_REUSE):
        v1.set_random_seed(0)
        losses = [build_tower_loss(
            SimpleNamespace(batch_size=1, loss_normalize=normalize, class_weights=weights,
                            split="train", recompute=False),
            {"image": tf.constant(images), "label": tf.constant(labels)}, source, spec,
            ["/cpu:0"]) for weights in class_weights]
        initialize = v1.global_variables_initializer()
    with v1.Session(graph=graph) as sess:
        sess.run(initialize)
        return sess.run(losses)


def test_the_loss_weighs_each_pixel_by_its_class():
    first, second, both, weighted, plain = tower_loss([[1, 0], [0, 1], [1, 1], "2,3", None])
    assert first > 0 and second > 0
    assert both == pytest.approx(first + second, rel=1e-5)
    assert both == pytest.approx(plain, rel=1e-6)
    assert weighted == pytest.approx(2 * first + 3 * second, rel=1e-5)
    mean_first, mean_weighted = tower_loss([[1, 0], [2, 3]], normalize="mean")
    valid = 16 * 16 - 1
    class_0 = 8 * 16 - 1
    assert mean_first == pytest.approx(first / class_0, rel=1e-5)
    assert mean_weighted == pytest.approx((2 * first + 3 * second) / (2 * class_0 + 3 * (valid - class_0)),
                                          rel=1e-5)


def test_bad_weights_name_the_flag(tmp_path):
    source = get_dataset("kitti", write_kitti(str(tmp_path / "kitti")))
    for bad in ("1,2,3", "1,x", "0,0", "-1,1", "median"):
        with pytest.raises(SettingsError, match="--class-weights"):
            loss_class_weights(bad, source, "train")
    np.testing.assert_array_equal(loss_class_weights("0.5,2", source, "train"), [0.5, 2.0])
    assert loss_class_weights(None, source, "train") is None
