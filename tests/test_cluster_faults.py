"""Faults of a local cluster (processes on loopback): a worker killed and started again
rejoins; a chief killed and started again resumes from its last complete checkpoint and the
worker rejoins it; a ps lost stops every task with a message, and --resume continues.

Each run is bounded by its timeouts, and the LocalCluster context stops every process it
started, whatever happens in the test.
"""
import glob
import io
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.distributed.local import LocalCluster
from fcn_graph.rundir import load_record
from fcn_graph.training.checkpoints import PARTIAL_SAVE_PATTERNS

pytestmark = pytest.mark.slow
STEPS = 10
TIMEOUT = 300


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


def flags(data_dir, run_dir):
    """FCN-32s at width 1/16 on four 32x32 scenes, two per worker, a checkpoint every 4 steps."""
    return ["--model", "fcn32s", "--width", "0.0625", "--dropout-rate", "0", "--dataset",
            "synthetic", "--data-dir", data_dir, "--dataset-option", "size=32x32",
            "--dataset-option", "num_train=4", "--dataset-option", "num_val=1",
            "--crop-size", "32", "--no-augment", "--batch-size", "1", "--max-steps", STEPS,
            "--save-every", "4", "--eval-every", "100", "--eval-images", "1", "--log-every",
            "1", "--seed", "5", "--optimizer", "sgd", "--lr", "1e-6", "--run-dir", run_dir]


def cluster(data_dir, run_dir, *extra):
    return LocalCluster(2, 1, flags(data_dir, run_dir) + list(extra), out=io.StringIO())


def start_then_kill(local, task, pattern, victim):
    """Start the cluster; once `task` prints a line matching `pattern`, SIGKILL `victim`."""
    local.start()
    local.wait_for(task, pattern, TIMEOUT)
    local.kill(victim, signal.SIGKILL)


def weights(run_dir, step=STEPS):
    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", f"model.ckpt-{step}"))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.endswith(("/weights", "/biases"))}


def assert_complete(run_dir, chief_starts=1):
    """The run reached STEPS; every checkpoint the state file lists is whole; nothing of a cut
    save is left; one TensorBoard file per chief start, none from the workers."""
    directory = os.path.join(run_dir, "checkpoints")
    state = tf.train.get_checkpoint_state(directory)
    assert state.model_checkpoint_path.endswith(f"model.ckpt-{STEPS}")
    for prefix in state.all_model_checkpoint_paths:
        path = os.path.join(directory, os.path.basename(prefix))
        assert os.path.isfile(path + ".index") and glob.glob(path + ".data-*"), path
    for pattern in PARTIAL_SAVE_PATTERNS:
        assert not glob.glob(os.path.join(directory, pattern)), pattern
    reader = tf.train.load_checkpoint(state.model_checkpoint_path)
    assert reader.get_tensor("global_step") == STEPS
    assert list(reader.get_tensor("cluster/input_positions")) == [STEPS, STEPS]
    assert load_record(run_dir).settings["max_steps"] == STEPS
    assert len(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))) == chief_starts


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("uninterrupted"))
    with cluster(data_dir, run_dir) as local:
        local.start()
        assert local.supervise(TIMEOUT) == 0
    return run_dir


def test_a_killed_worker_is_started_again_and_rejoins(data_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    with cluster(data_dir, run_dir) as local:
        start_then_kill(local, "worker:0", r"^step 3/", "worker:0")
        assert local.supervise(TIMEOUT) == 0
        assert any("starting it again" in line for line in local.out.getvalue().splitlines())
        assert any(line.startswith(f"step {STEPS}/") for line in local.lines["worker:0"])
    assert_complete(run_dir)


def test_a_killed_chief_resumes_from_its_last_checkpoint_and_the_worker_rejoins(
        data_dir, tmp_path, uninterrupted):
    run_dir = str(tmp_path / "run")
    with cluster(data_dir, run_dir) as local:
        start_then_kill(local, "chief:0", r"^step 6/", "chief:0")
        local.start_task("chief:0", ["--resume"])
        local.wait_for("chief:0", r"resumed from .*model\.ckpt-4 at step 4", TIMEOUT)
        local.wait_for("worker:0", r"the chief started over", TIMEOUT)
        assert local.supervise(TIMEOUT) == 0
    assert_complete(run_dir, chief_starts=2)
    # Restored weights, stream positions and dropout counters: the steps after 4 are the
    # uninterrupted run's, up to the order in which gradients were summed.
    expected = weights(uninterrupted)
    for name, value in weights(run_dir).items():
        assert np.linalg.norm(value - expected[name]) <= 1e-5 * max(
            np.linalg.norm(expected[name]), 1e-12), name


def test_a_lost_ps_stops_every_task_and_resume_continues_from_the_checkpoint(
        data_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    with cluster(data_dir, run_dir) as local:
        start_then_kill(local, "chief:0", r"^step 5/", "ps:0")
        assert local.supervise(TIMEOUT) == 1
        stopped = local.wait_for("chief:0", r"lost a parameter server", 5)
        assert "--resume" in stopped
    with cluster(data_dir, run_dir, "--resume") as local:
        local.start()
        assert local.supervise(TIMEOUT) == 0
        local.wait_for("chief:0", r"resumed from .*model\.ckpt-4 at step 4", 5)
    assert_complete(run_dir, chief_starts=2)
