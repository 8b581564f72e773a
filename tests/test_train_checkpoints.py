"""Checkpoints: keep-last-K, a state file that only names complete files, step read-back."""
import os

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.errors import CheckpointError
from fcn_graph.rundir import checkpoint_step, latest_checkpoint
from fcn_graph.training.checkpoints import Checkpointer

v1 = tf.compat.v1


def saving_session(directory, keep):
    graph = tf.Graph()
    with graph.as_default():
        step = v1.train.get_or_create_global_step()
        value = v1.get_variable("layer/weights", initializer=np.zeros(4, np.float32))
        saver = v1.train.Saver(max_to_keep=None, save_relative_paths=True)
        init = v1.global_variables_initializer()
    sess = v1.Session(graph=graph)
    sess.run(init)
    return sess, Checkpointer(str(directory), saver, keep), step, value


def test_keeps_the_last_k_and_deletes_older_files(tmp_path):
    sess, checkpointer, step, value = saving_session(tmp_path, keep=2)
    with sess, sess.graph.as_default():
        for s in (10, 20, 30):
            step.load(s, sess)
            value.load(np.full(4, s, np.float32), sess)
            checkpointer.save(sess, s)
    latest = latest_checkpoint(str(tmp_path))
    assert latest.endswith("model.ckpt-30") and checkpoint_step(latest) == 30
    assert [os.path.basename(p) for p in checkpointer.kept()] == ["model.ckpt-20", "model.ckpt-30"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith("model.ckpt-10")]
    reader = tf.train.load_checkpoint(latest)
    np.testing.assert_array_equal(reader.get_tensor("layer/weights"), np.full(4, 30))


def test_a_partial_newer_checkpoint_is_never_the_latest(tmp_path):
    sess, checkpointer, step, _ = saving_session(tmp_path, keep=3)
    with sess, sess.graph.as_default():
        step.load(5, sess)
        checkpointer.save(sess, 5)
    # What a run killed inside Saver.save leaves behind: data without an index.
    (tmp_path / "model.ckpt-6.data-00000-of-00001").write_bytes(b"\0" * 16)
    os.makedirs(tmp_path / "model.ckpt-6_temp")
    assert latest_checkpoint(str(tmp_path)).endswith("model.ckpt-5")


def test_checkpoint_without_a_step_is_rejected_for_resume(tmp_path):
    with tf.Graph().as_default(), v1.Session() as sess:
        v1.get_variable("layer/weights", initializer=np.zeros(2, np.float32))
        sess.run(v1.global_variables_initializer())
        prefix = v1.train.Saver().save(sess, str(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="--init-from"):
        checkpoint_step(prefix)
    with pytest.raises(CheckpointError, match="cannot be read"):
        checkpoint_step(str(tmp_path / "missing"))


def test_a_moved_run_directory_still_resumes(tmp_path):
    sess, checkpointer, step, _ = saving_session(tmp_path / "here", keep=2)
    with sess, sess.graph.as_default():
        for s in (1, 2):
            step.load(s, sess)
            checkpointer.save(sess, s)
    os.rename(tmp_path / "here", tmp_path / "there")
    moved = str(tmp_path / "there")
    assert latest_checkpoint(moved) == os.path.join(moved, "model.ckpt-2")
    state = tf.train.get_checkpoint_state(moved)
    assert list(state.all_model_checkpoint_paths) == [os.path.join(moved, "model.ckpt-1"),
                                                      os.path.join(moved, "model.ckpt-2")]
