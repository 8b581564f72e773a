"""Where the ops of a replica's graph run: variables on the ps tasks, the rest on its worker.

`replica_device_setter` places every variable on a ps task and every other
op on the worker. Which ps task is chosen by `ByteBalancer`: the one
holding the fewest bytes so far, the variables taken in the order they are
built, so that fc6 (7x7x512x4096 floats, 411 MB at full width) does not
share a task with fc7 and the rest while another task holds a few biases.
Every worker builds the same graph in the same order, so every worker
computes the same placement. Optimizer slots and gradient accumulators are
colocated with their variable, so they follow its bytes.

Some variables belong to one worker and must not be shared on a ps task:
the position of its own input stream (and the pending copy of it), the
counter its dropout masks are drawn from, and the sums of its gradient
accumulation. They are placed on the worker.
Bookkeeping that every task reads by name (the global step and the
`cluster/` variables) sits on ps task 0 in every graph.
"""
import tensorflow as tf

from fcn_graph.rundir import POSITION_VARIABLE

v1 = tf.compat.v1

VARIABLE_OPS = ("Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable")
BOOKKEEPING_SCOPE = "cluster"
PINNED_TO_FIRST_PS = ("global_step",)
# The dropout counter is `fcn_graph.layers.create_random_stream`'s.
RANDOM_STREAM = "random_stream"
WORKER_HELD = (POSITION_VARIABLE, "pending_" + POSITION_VARIABLE, RANDOM_STREAM)
WORKER_HELD_SCOPES = ("gradient_accumulators",)


def variable_bytes(op):
    """Bytes of the variable an op creates, from its `shape` and `dtype` attributes."""
    attrs = op.node_def.attr
    elements = tf.TensorShape(attrs["shape"].shape).num_elements() or 0
    return elements * tf.as_dtype(attrs["dtype"].type).size


def is_pinned(name):
    return name in PINNED_TO_FIRST_PS or name.startswith(BOOKKEEPING_SCOPE + "/")


def is_worker_held(name):
    return name in WORKER_HELD or name.split("/")[0] in WORKER_HELD_SCOPES


class ByteBalancer:
    """A `ps_strategy`: each variable goes to the ps task holding the fewest bytes so far."""

    def __init__(self, num_ps):
        self.loads = [0] * num_ps

    def __call__(self, op):
        if is_pinned(op.name):
            return 0
        task = min(range(len(self.loads)), key=lambda t: (self.loads[t], t))
        self.loads[task] += variable_bytes(op)
        return task


def replica_placement(task):
    """The device scope to build a replica's graph in, for ClusterTask `task`."""
    setter = v1.train.replica_device_setter(
        ps_tasks=task.num_ps, worker_device=task.device, cluster=task.cluster_spec(),
        ps_strategy=ByteBalancer(task.num_ps))
    worker = tf.DeviceSpec.from_string(task.device)

    def device(op):
        if op.type in VARIABLE_OPS and is_worker_held(op.name):
            return worker.make_merged_spec(tf.DeviceSpec.from_string(op.device or "")).to_string()
        return setter(op)

    return v1.device(device)


def first_ps():
    """The device of the bookkeeping every task reads by name."""
    return v1.device("/job:ps/task:0")
