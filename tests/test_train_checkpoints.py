"""Checkpoints: keep-last-K, a state file that only names complete files, step read-back,
what is kept when a resumed run saves, failed writes, leftovers of killed saves, the best one."""
import dataclasses
import errno
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.errors import CheckpointError, TrainingError
from fcn_graph.rundir import (checkpoint_step, latest_checkpoint, load_record, resolve_checkpoint,
                              saved_checkpoints, write_record)
from fcn_graph.training.checkpoints import BestCheckpoint, Checkpointer, remove_partial_saves

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


class FailingSaver:
    """A saver on a full disk: every save fails as TensorFlow reports ENOSPC."""

    def save(self, sess, save_path, **options):
        raise tf.errors.ResourceExhaustedError(None, None, f"{save_path}: No space left on device")


def saved_steps(directory):
    return sorted({int(name.split("-")[1].split(".")[0]) for name in os.listdir(directory)
                   if name.startswith("model.ckpt-")})


def test_rotation_deletes_nothing_older_until_a_newer_checkpoint_is_complete(tmp_path):
    """Resumed from step 4 with a damaged step 6 above it, as after a crash."""
    sess, checkpointer, step, _ = saving_session(tmp_path, keep=2)
    with sess, sess.graph.as_default():
        for s in (2, 4):
            step.load(s, sess)
            checkpointer.save(sess, s)
        (tmp_path / "model.ckpt-6.data-00000-of-00001").write_bytes(b"\0" * 16)
        (tmp_path / "checkpoint").write_text("garbled {{{")
        damaged = str(tmp_path / "model.ckpt-6")
        resumed = Checkpointer(str(tmp_path), FailingSaver(), keep=2, incomplete=[damaged])
        with pytest.raises(TrainingError, match=f"to {tmp_path}: .*No space left on device"):
            resumed.save(sess, 5)
        assert saved_steps(tmp_path) == [2, 4, 6]
        resumed.saver = checkpointer.saver
        step.load(5, sess)
        resumed.save(sess, 5)
        # Step 2 goes once 5 is complete; the damaged 6, newer, is left alone ...
        assert saved_steps(tmp_path) == [4, 5, 6]
        assert [os.path.basename(p) for p in resumed.kept()] == ["model.ckpt-4", "model.ckpt-5"]
        step.load(8, sess)
        resumed.save(sess, 8)
    # ... until a newer checkpoint is complete, whatever the number kept.
    assert saved_steps(tmp_path) == [5, 8]
    assert latest_checkpoint(str(tmp_path)).endswith("model.ckpt-8")


def test_a_failed_write_names_the_directory(tmp_path):
    sess, _, _, _ = saving_session(tmp_path, keep=2)

    class ReadOnly:
        def save(self, sess, save_path, **options):
            raise OSError(errno.EROFS, "Read-only file system", save_path)

    with sess, pytest.raises(TrainingError, match=f"checkpoint of step 3 to {tmp_path}: "
                                                  r"\[Errno 30\] Read-only file system"):
        Checkpointer(str(tmp_path), ReadOnly(), keep=2).save(sess, 3)


def test_partial_saves_are_removed(tmp_path):
    sess, checkpointer, step, _ = saving_session(tmp_path, keep=2)
    with sess, sess.graph.as_default():
        step.load(1, sess)
        checkpointer.save(sess, 1)
    (tmp_path / "model.ckpt-2_temp").mkdir()
    (tmp_path / "model.ckpt-2_temp" / "part-00000-of-00001.data-00000-of-00001.tempstate1").touch()
    (tmp_path / "model.ckpt-2.index.tempstate77").touch()
    (tmp_path / "checkpoint.tmp5a5a").touch()
    removed = remove_partial_saves(str(tmp_path))
    assert [os.path.basename(p) for p in removed] == [
        "checkpoint.tmp5a5a", "model.ckpt-2.index.tempstate77", "model.ckpt-2_temp"]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model.ckpt-1.data-00000-of-00001",
                                            "model.ckpt-1.index"]


def test_the_best_checkpoint_follows_a_scripted_validation_sequence(tmp_path):
    """Scores 0.2, 0.5, 0.4, nan, 0.6, 0.6: kept at steps 1, 2 and 5, each named in the record
    before the previous copy goes; a resumed keeper only replaces it with something better."""
    run_dir = tmp_path / "run"
    best_dir = run_dir / "checkpoints" / "best"
    recorded = []
    with tf.Graph().as_default() as graph:
        value = tf.compat.v1.get_variable("value", [], initializer=tf.zeros_initializer())
        step_var = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
    keeper = BestCheckpoint(str(best_dir), str(run_dir), saver, recorded.append)
    kept = []
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step, score in enumerate([0.2, 0.5, 0.4, float("nan"), 0.6, 0.6], start=1):
            value.load(float(step), sess)
            step_var.load(step, sess)
            if keeper.consider(sess, step, score):
                kept.append(step)
                # Only the new best remains, and it holds this step's weights.
                assert [os.path.basename(p) for p in saved_checkpoints(str(best_dir))] == \
                    [f"model.ckpt-{step}"]
    assert kept == [1, 2, 5]
    assert [entry["step"] for entry in recorded] == [1, 2, 5]
    assert recorded[-1] == {"checkpoint": os.path.join("checkpoints", "best", "model.ckpt-5"),
                            "step": 5, "mean_iu": 0.6}
    assert tf.train.load_variable(str(run_dir / recorded[-1]["checkpoint"]), "value") == 5.0
    resumed = BestCheckpoint(str(best_dir), str(run_dir), saver, recorded.append,
                             best=recorded[-1])
    assert resumed.mean_iu == 0.6


def test_a_run_directory_resolves_to_its_best_checkpoint_when_it_has_one(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    latest = resolve_checkpoint(str(copy))
    assert latest.endswith("model.ckpt-1")
    best_dir = copy / "checkpoints" / "best"
    best_dir.mkdir()
    for path in (copy / "checkpoints").glob("model.ckpt-1.*"):
        shutil.copy(path, best_dir / path.name)
    record = load_record(str(copy))
    entry = {"checkpoint": os.path.join("checkpoints", "best", "model.ckpt-1"), "step": 1,
             "mean_iu": 0.5}
    write_record(str(copy), dataclasses.replace(record, best=entry))
    assert resolve_checkpoint(str(copy)) == str(best_dir / "model.ckpt-1")
    assert load_record(str(copy)).best == entry
    # A best copy whose files are gone: the latest is used instead.
    for path in best_dir.iterdir():
        path.unlink()
    assert resolve_checkpoint(str(copy)) == latest
