"""StagedInit: FCN-16s from FCN-32s and FCN-8s from FCN-16s, as the reference trains."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import build_fcn
from fcn_graph.upsampling import bilinear_kernel
from fcn_graph.errors import WeightsError
from fcn_graph.training.staged import StagedInit

WIDTH = 1 / 16
CLASSES = 3


def stage_graph(variant, scope=None, classes=CLASSES):
    """A training graph: network, momentum optimizer (slots) and global step."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 64, 64, 3])
        net = build_fcn(images, classes, variant, width=WIDTH, scope=scope)
        step = tf.compat.v1.train.get_or_create_global_step()
        tf.compat.v1.train.MomentumOptimizer(1e-3, 0.9).minimize(
            tf.reduce_sum(net.logits), global_step=step)
    return graph


def variables(graph):
    return {v.op.name: v for v in graph.get_collection("variables")}


def train_and_save(variant, path, scope=None):
    """Save a stage whose every variable (slots, step, deconvs too) is non-default."""
    graph = stage_graph(variant, scope)
    rng = np.random.default_rng(0)
    with graph.as_default(), tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        values = {}
        for name, variable in variables(graph).items():
            shape = variable.shape.as_list()
            values[name] = (rng.standard_normal(shape).astype(variable.dtype.as_numpy_dtype)
                            if shape else np.asarray(1234, variable.dtype.as_numpy_dtype))
            sess.run(variable.initializer, {variable.initializer.inputs[1]: values[name]})
        prefix = tf.compat.v1.train.Saver().save(sess, str(path))
    return prefix, values


def next_stage(variant, checkpoint, scope=None, checkpoint_scope=None, classes=CLASSES):
    graph = stage_graph(variant, scope, classes)
    with graph.as_default():
        staged = StagedInit(checkpoint, scope=scope, checkpoint_scope=checkpoint_scope)
    graph.finalize()  # everything the restore needs exists before the session runs
    sess = tf.compat.v1.Session(graph=graph)
    staged.restore(sess)
    current = {name: sess.run(v) for name, v in variables(graph).items()}
    return staged, current


def test_fcn16s_from_fcn32s(tmp_path):
    checkpoint, previous = train_and_save("fcn32s", tmp_path / "fcn32s")

    staged, current = next_stage("fcn16s", checkpoint)

    shared = [n for n in previous if n.endswith(("/weights", "/biases")) and "up" not in n]
    assert sorted(staged.taken) == sorted(shared)
    for name in shared:
        assert np.array_equal(current[name], previous[name]), name
    assert not current["score_pool4/weights"].any() and not current["score_pool4/biases"].any()
    assert np.array_equal(current["upscore2/weights"], bilinear_kernel(2, CLASSES))
    assert np.array_equal(current["upscore16/weights"], bilinear_kernel(16, CLASSES))
    # Optimizer state and step restart.
    assert current["global_step"] == 0
    assert not current["conv1_1/weights/Momentum"].any()
    assert staged.skipped["global_step"] == "optimizer or training state, restarted"
    assert staged.skipped["upscore/weights"] == "not in this network"
    assert "conv1_1/weights/Momentum" in staged.skipped


def test_fcn8s_from_fcn16s_resets_shared_upsampling(tmp_path):
    checkpoint, previous = train_and_save("fcn16s", tmp_path / "fcn16s")

    staged, current = next_stage("fcn8s", tmp_path)  # a directory: its latest checkpoint

    assert np.array_equal(current["score_pool4/weights"], previous["score_pool4/weights"])
    assert "score_pool4/weights" in staged.taken
    # upscore2 exists in both stages with the same shape and is still reset.
    assert not np.array_equal(previous["upscore2/weights"], bilinear_kernel(2, CLASSES))
    assert np.array_equal(current["upscore2/weights"], bilinear_kernel(2, CLASSES))
    assert staged.skipped["upscore2/weights"] == "upsampling layer, reset to bilinear"
    assert not current["score_pool3/weights"].any()


def test_scopes_map_between_stages(tmp_path):
    checkpoint, previous = train_and_save("fcn32s", tmp_path / "fcn32s", scope="old")
    staged, current = next_stage("fcn16s", checkpoint, scope="new", checkpoint_scope="old")
    assert np.array_equal(current["new/fc7/weights"], previous["old/fc7/weights"])
    assert "new/fc7/weights" in staged.taken


def test_other_class_count_is_skipped_with_reason(tmp_path):
    checkpoint, _ = train_and_save("fcn32s", tmp_path / "fcn32s")
    staged, current = next_stage("fcn16s", checkpoint, classes=CLASSES + 2)
    assert "score_fr/weights" not in staged.taken
    assert staged.skipped["score_fr/weights"].startswith("shape [1, 1, 256, 3] in checkpoint")
    assert not current["score_fr/weights"].any()


def test_unrelated_checkpoint_is_refused(tmp_path):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        variable = tf.compat.v1.Variable(1.0, name="something_else")
        sess.run(variable.initializer)
        prefix = tf.compat.v1.train.Saver([variable]).save(sess, str(tmp_path / "other"))
    with pytest.raises(WeightsError, match=r"other.*shares no layer with this network"):
        next_stage("fcn16s", prefix)
