"""Pixelwise softmax cross-entropy and weight decay against numpy."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import build_fcn, pixelwise_softmax_loss, weight_decay_loss
from fcn_graph import layers
from fcn_graph.errors import SettingsError

v1 = tf.compat.v1


def numpy_loss(logits, labels, ignore=255, weights=None):
    """(weighted sum of the pixels' cross-entropy, sum of the valid pixels' weights)."""
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    valid = labels != ignore
    safe = np.where(valid, labels, 0)
    pixel = -np.take_along_axis(log_probs, safe[..., None], -1)[..., 0]
    w = valid.astype(np.float64)
    if weights is not None:
        w = w * np.asarray(weights)[safe]
    return (pixel * w).sum(), w.sum()


def evaluate(logits, labels, **kwargs):
    with tf.Graph().as_default(), v1.Session() as sess:
        return sess.run(pixelwise_softmax_loss(tf.constant(logits), tf.constant(labels), **kwargs))


@pytest.fixture
def batch():
    rng = np.random.RandomState(0)
    logits = (rng.randn(2, 5, 7, 4) * 3).astype(np.float32)
    labels = rng.randint(0, 4, size=(2, 5, 7)).astype(np.int32)
    labels[0, :2, :3] = 255
    labels[1, 4, :] = 255
    return logits, labels


def test_sum_normalisation_matches_numpy_and_skips_ignored(batch):
    logits, labels = batch
    expected, _ = numpy_loss(logits, labels)
    assert evaluate(logits, labels) == pytest.approx(expected, rel=1e-5)


def test_mean_normalisation_divides_by_valid_pixels(batch):
    logits, labels = batch
    total, count = numpy_loss(logits, labels)
    assert count < labels.size
    assert evaluate(logits, labels, normalize="mean") == pytest.approx(total / count, rel=1e-5)


def test_class_weights(batch):
    logits, labels = batch
    weights = [0.5, 1.0, 2.0, 4.0]
    expected, _ = numpy_loss(logits, labels, weights=weights)
    assert evaluate(logits, labels, class_weights=weights) == pytest.approx(expected, rel=1e-5)


def test_weighted_mean_divides_by_the_valid_pixels_weights(batch):
    logits, labels = batch
    weights = [0.5, 1.0, 2.0, 4.0]
    total, weight_sum = numpy_loss(logits, labels, weights=weights)
    assert weight_sum != np.sum(labels != 255)
    mean = evaluate(logits, labels, normalize="mean", class_weights=weights)
    assert mean == pytest.approx(total / weight_sum, rel=1e-5)
    # Scaling every weight leaves a weighted mean unchanged and a weighted sum scaled.
    scaled = [3 * w for w in weights]
    assert evaluate(logits, labels, normalize="mean", class_weights=scaled) == \
        pytest.approx(mean, rel=1e-5)
    assert evaluate(logits, labels, class_weights=scaled) == pytest.approx(3 * total, rel=1e-5)


def test_class_weights_of_the_wrong_length_are_refused(batch):
    with pytest.raises(SettingsError, match="--class-weights gives 3 weights for 4 classes"):
        evaluate(*batch, class_weights=[1.0, 2.0, 3.0])


def test_ignored_pixels_do_not_change_the_loss(batch):
    logits, labels = batch
    changed = logits.copy()
    changed[labels == 255] = 1e4  # would dominate the loss if counted
    assert evaluate(changed, labels) == pytest.approx(evaluate(logits, labels), rel=1e-6)


def test_stable_for_huge_logits():
    logits = np.array([[[[1000.0, -1000.0]]]], np.float32)
    labels = np.array([[[1]]], np.int32)
    assert evaluate(logits, labels) == pytest.approx(2000.0, rel=1e-6)


def test_all_ignored_mean_is_zero_not_nan():
    logits = np.zeros((1, 2, 2, 3), np.float32)
    labels = np.full((1, 2, 2), 255, np.int32)
    assert evaluate(logits, labels, normalize="mean") == 0.0


def test_out_of_range_label_fails_with_a_clear_message(batch):
    logits, labels = batch
    labels = labels.copy()
    labels[1, 1, 1] = 7
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must lie in \[0, 4\)"):
        evaluate(logits, labels)


def test_bad_normalisation_is_refused(batch):
    with pytest.raises(ValueError, match="normalize"):
        evaluate(*batch, normalize="batch")


def test_weight_decay_covers_weights_only_and_matches_caffe():
    with tf.Graph().as_default(), v1.Session() as sess:
        images = v1.placeholder(tf.float32, [1, 32, 32, 3])
        build_fcn(images, 3, "fcn8s", width=1 / 32)
        decayed = {v.op.name for v in v1.get_collection(layers.DECAY_COLLECTION)}
        assert "conv1_1/weights" in decayed and "score_pool3/weights" in decayed
        assert not any(name.endswith("biases") for name in decayed)
        assert not any(name.startswith("upscore") for name in decayed)
        loss = weight_decay_loss(5e-4)
        sess.run(v1.global_variables_initializer())
        values = sess.run([v for v in v1.get_collection(layers.DECAY_COLLECTION)])
        expected = 5e-4 * 0.5 * sum((w.astype(np.float64) ** 2).sum() for w in values)
        assert sess.run(loss) == pytest.approx(expected, rel=1e-5)


def test_weight_decay_not_doubled_by_a_reused_tower():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 32, 32, 3])
        build_fcn(images, 3, "fcn32s", width=1 / 32)
        count = len(v1.get_collection(layers.DECAY_COLLECTION))
        with v1.variable_scope(v1.get_variable_scope(), reuse=True):
            build_fcn(images, 3, "fcn32s", width=1 / 32)
        assert len(v1.get_collection(layers.DECAY_COLLECTION)) == count


def test_learnt_deconvs_get_decay_and_fixed_ones_do_not():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 32, 32, 3])
        build_fcn(images, 3, "fcn16s", width=1 / 32, learn_upsampling=True)
        decayed = {v.op.name for v in v1.get_collection(layers.DECAY_COLLECTION)}
        assert "upscore2/weights" in decayed and "upscore16/weights" in decayed
