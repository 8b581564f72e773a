"""Training on a cluster: its description, the placement of the variables by bytes, and two
synchronous workers stepping exactly as one process with both their batches.

The cluster runs as processes on loopback addresses (`fcn-graph cluster local`), bounded by
its --timeout and stopped, every process of it, when the test ends.
"""
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.distributed import ClusterTask, cluster_task, parse_cluster
from fcn_graph.distributed.coordination import ClusterReplica
from fcn_graph.distributed.placement import VARIABLE_OPS, is_pinned, is_worker_held
from fcn_graph.distributed.spec import device_of
from fcn_graph.errors import SettingsError
from fcn_graph.rundir import load_record
from fcn_graph.training import TrainConfig, resolve, train
from fcn_graph.training.config import as_settings
from fcn_graph.training.loop import build_training_graph, prepare

v1 = tf.compat.v1
JOBS = {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222", "10.0.0.3:2222"],
        "ps": ["10.0.0.1:2223", "10.0.0.4:2223", "10.0.0.5:2223"]}


def tf_config(role, index, jobs=JOBS):
    return {"TF_CONFIG": json.dumps({"cluster": jobs, "task": {"type": role, "index": index}})}


# ---- the cluster's description

def test_tf_config_describes_the_task_and_the_workers_start_with_the_chief():
    task = cluster_task(environ=tf_config("worker", 1))
    assert (task.name, task.num_workers, task.num_ps, task.worker_index) == ("worker:1", 3, 3, 2)
    assert not task.is_chief and not task.is_ps and task.device == "/job:worker/task:1"
    assert cluster_task(environ=tf_config("chief", 0)).is_chief
    assert cluster_task(environ=tf_config("ps", 2)).is_ps
    assert cluster_task(environ={}) is None


def test_without_a_chief_task_the_first_worker_is_the_chief():
    jobs = {"worker": ["h1:1", "h2:1"], "ps": ["h3:1"]}
    assert cluster_task(environ=tf_config("worker", 0, jobs)).is_chief
    assert not cluster_task(environ=tf_config("worker", 1, jobs)).is_chief


def test_the_cluster_and_task_settings_win_over_tf_config_and_read_as_tf_config_does():
    text = "chief=10.0.0.1:2222,worker=10.0.0.2:2222,worker=10.0.0.3:2222," \
           "ps=10.0.0.1:2223,ps=10.0.0.4:2223,ps=10.0.0.5:2223"
    assert parse_cluster(text) == JOBS
    assert parse_cluster(json.dumps(JOBS)) == JOBS
    task = cluster_task(text, "ps:1", environ=tf_config("chief", 0))
    assert task.name == "ps:1"
    assert json.loads(task.to_tf_config()) == {"cluster": JOBS, "task": {"type": "ps", "index": 1}}


@pytest.mark.parametrize("cluster, task, message", [
    ("chief=h:1,worker=h:2", "chief:0", "at least one ps"),
    ("chief=h:1,evaluator=h:2,ps=h:3", "chief:0", "'evaluator' is not one of"),
    ("chief=h:1,ps=h:2", "worker:0", "not in the cluster"),
    ("chief=h,ps=h:2", "chief:0", "not HOST:PORT"),
    ("chief=h:1,ps=h:1", "chief:0", "two tasks"),
    ("chief=h:1,ps=h:2", None, "--cluster needs --task"),
    ("chief=h:1,ps=h:2", "boss:0", "ROLE:INDEX"),
])
def test_a_wrong_cluster_is_refused_naming_what_to_fix(cluster, task, message):
    with pytest.raises(SettingsError, match=message):
        cluster_task(cluster, task, environ={})


def test_a_tf_config_without_its_task_is_refused():
    with pytest.raises(SettingsError, match='no "task"'):
        cluster_task(environ={"TF_CONFIG": json.dumps({"cluster": JOBS})})


def test_the_place_in_a_cluster_is_not_recorded_with_the_run():
    config = resolve({"cluster": "chief=h:1,ps=h:2", "task": "chief:0", "asynchronous": True})
    settings = config.to_settings()
    assert "cluster" not in settings and "task" not in settings
    assert settings["asynchronous"] is True


def test_cluster_local_refuses_what_it_sets_itself(run_command):
    assert run_command(["cluster", "local", "--workers", "0", "--", "--max-steps", "1"]) == 2
    assert run_command(["cluster", "local", "--", "--task", "worker:0"]) == 2


# ---- placement

@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


def settings(data_dir, run_dir, **overrides):
    """FCN-32s at width 1/16 on two 32x32 scenes without ignored pixels, crops of their size."""
    options = dict(model="fcn32s", width=1 / 16, geometry="same", dropout_rate=0.0,
                   dataset="synthetic", data_dir=data_dir,
                   dataset_options={"size": (32, 32), "num_train": 2, "num_val": 1},
                   crop_size=32, augment=False, batch_size=1, max_steps=3, save_every=3,
                   eval_every=100, eval_images=1, summary_every=1, log_every=1, seed=11,
                   optimizer="sgd", run_dir=str(run_dir))
    options.update(overrides)
    return options


def replica_graph(tmp_path, role, index, **overrides):
    """The training graph that task role:index of a 3-worker, 3-ps cluster builds."""
    jobs = tuple((role_, tuple(addresses)) for role_, addresses in JOBS.items())
    chief = ClusterReplica(ClusterTask(jobs, "chief", 0), server=None)
    three = {"size": (32, 32), "num_train": 3, "num_val": 1}  # one example per worker
    run = prepare(as_settings(settings(str(tmp_path / "data"), tmp_path / "run",
                                       dataset_options=three, **overrides)), replica=chief)
    replica = ClusterReplica(ClusterTask(jobs, role, index), server=None)
    return build_training_graph(dataclasses.replace(run, replica=replica), 0, 0).graph


def where(op):
    spec = tf.DeviceSpec.from_string(op.device)
    return f"/job:{spec.job}/task:{spec.task}"


def test_variables_are_spread_over_the_ps_tasks_by_bytes(tmp_path):
    graph = replica_graph(tmp_path, "worker", 1, accumulate=2)
    variables = [op for op in graph.get_operations() if op.type in VARIABLE_OPS]
    # Slots are colocated with their variable, not placed on their own.
    shared = [op for op in variables if not is_worker_held(op.name)
              and op.get_attr("_class") == [f"loc:@{op.name}".encode()]]
    loads = {device_of("ps", k): 0 for k in range(3)}
    sizes = []
    for op in shared:
        assert where(op) in loads, (op.name, op.device)
        if is_pinned(op.name):
            assert where(op) == "/job:ps/task:0", op.name
            continue
        size = tf.TensorShape(op.get_attr("shape")).num_elements() * op.get_attr("dtype").size
        loads[where(op)] += size
        sizes.append(size)
    # Greedy by bytes: no task ends more than the largest variable above another.
    assert max(loads.values()) - min(loads.values()) <= max(sizes)
    # Balancing counts instead (round robin in the same order) leaves them further apart.
    by_count = [sum(sizes[k::3]) for k in range(3)]
    assert max(loads.values()) - min(loads.values()) < max(by_count) - min(by_count)
    held = {op.name: where(op) for op in variables if is_worker_held(op.name)}
    assert {"input_position", "random_stream"} <= set(held)
    assert any(name.startswith("gradient_accumulators/") for name in held)
    assert set(held.values()) == {"/job:worker/task:1"}


def test_slots_accumulators_and_towers_follow_their_variables(tmp_path):
    graph = replica_graph(tmp_path, "worker", 0)
    ops = {op.name: op for op in graph.get_operations()}
    device = {name: where(op) for name, op in ops.items() if op.type in VARIABLE_OPS}
    momentum = [name for name in device if name.endswith("/Momentum")]
    assert momentum and all(device[n] == device[n[:-len("/Momentum")]] for n in momentum)
    accumulators = [op for op in ops.values() if op.type == "ResourceConditionalAccumulator"]
    assert accumulators
    for op in accumulators:
        variable = op.name[len("train/"):-len("/gradient_accumulator")]
        assert where(op) == device[variable], op.name
    convs = [op for op in ops.values() if op.type == "Conv2D"]
    assert convs and all(where(op) == "/job:worker/task:0" for op in convs)
    assert len(set(device[n] for n in device if n.endswith("/weights"))) == 3


# ---- synchronous steps: the loss-normalisation rule

def trainable_weights(checkpoint):
    reader = tf.train.load_checkpoint(checkpoint)
    names = [n for n in reader.get_variable_to_shape_map()
             if n.endswith(("/weights", "/biases")) and "/Momentum" not in n]
    return {n: reader.get_tensor(n) for n in names}


@pytest.mark.parametrize("normalize, lr", [("sum", 1e-6), ("mean", 0.05)])
def test_two_synchronous_workers_step_as_one_process_with_both_batches(
        normalize, lr, data_dir, tmp_path, run_command):
    """Fixed crops, no ignored pixels: workers with batch 1 each read one of the two
    examples, one process with batch 2 reads both; a summed loss sums the workers'
    gradients, a mean loss averages them, and weight decay counts once."""
    steps = 3
    common = settings(data_dir, tmp_path / "one", loss_normalize=normalize, lr=lr,
                      max_steps=steps)
    one = train(TrainConfig(**dict(common, batch_size=2)))
    assert one["step"] == steps
    flags = ["--model", "fcn32s", "--width", "0.0625", "--dropout-rate", "0", "--dataset",
             "synthetic", "--data-dir", data_dir, "--dataset-option", "size=32x32",
             "--dataset-option", "num_train=2", "--dataset-option", "num_val=1",
             "--crop-size", "32", "--no-augment", "--batch-size", "1", "--max-steps", steps,
             "--save-every", steps, "--eval-images", "1", "--seed", "11", "--optimizer", "sgd",
             "--loss-normalize", normalize, "--lr", lr, "--run-dir", tmp_path / "cluster"]
    status = run_command(["cluster", "local", "--workers", "2", "--ps", "1", "--timeout",
                          "400", "--", *flags])
    assert status == 0
    cluster_checkpoint = str(tmp_path / "cluster" / "checkpoints" / f"model.ckpt-{steps}")
    expected = trainable_weights(one["checkpoint"])
    got = trainable_weights(cluster_checkpoint)
    assert set(got) == set(expected)
    for name, value in expected.items():
        difference = np.linalg.norm(got[name] - value)
        assert difference <= 1e-5 * max(np.linalg.norm(value), 1e-12), name
    assert np.abs(expected["score_fr/weights"]).max() > 0  # it learned: score_fr starts at 0
    reader = tf.train.load_checkpoint(cluster_checkpoint)
    assert reader.get_tensor("global_step") == steps
    assert list(reader.get_tensor("cluster/input_positions")) == [steps, steps]
    recorded = load_record(str(tmp_path / "cluster")).settings
    assert recorded["loss_normalize"] == normalize and "task" not in recorded


@pytest.mark.slow
def test_asynchronous_workers_apply_their_own_updates(data_dir, tmp_path, run_command):
    steps = 6
    flags = ["--model", "fcn32s", "--width", "0.0625", "--dataset", "synthetic", "--data-dir",
             data_dir, "--dataset-option", "size=32x32", "--dataset-option", "num_train=2",
             "--dataset-option", "num_val=1", "--crop-size", "32", "--batch-size", "1",
             "--max-steps", steps, "--save-every", steps, "--eval-images", "1", "--async",
             "--run-dir", tmp_path / "run"]
    assert run_command(["cluster", "local", "--workers", "2", "--ps", "1", "--timeout", "400",
                        "--", *flags]) == 0
    checkpoint = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    reader = tf.train.load_checkpoint(checkpoint)
    step = int(reader.get_tensor("global_step"))
    # Every update counts, whichever worker applied it; one may land after the chief's last.
    assert steps <= step <= steps + 1
    chief, worker = reader.get_tensor("cluster/input_positions")
    assert chief == reader.get_tensor("input_position") and 0 < chief + worker <= step
    assert load_record(str(tmp_path / "run")).settings["asynchronous"] is True
