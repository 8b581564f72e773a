"""Optimizers, learning-rate policies, bias learning-rate multiplier and gradient accumulation.

The global step counts applied updates, never images: one update consumes
`batch_size * accumulate` images. With `accumulate` N > 1, gradients of N
consecutive batches are summed into non-trainable variables (kept out of
checkpoints: they are zero whenever a checkpoint is written, right after an
update) and their mean is applied once, as Caffe's `iter_size` does.

On a cluster with synchronous updates, a worker's update pushes its
gradient of the data loss (the mean of its accumulated batches with
`accumulate` > 1) to the ps tasks, and the chief's `aggregate` combines
the gradients of all workers the way towers combine their losses: summed
for a summed loss, averaged for a mean loss. N workers with batch B thus
step exactly as one process with batch N x B, at the learning rate set.
Weight decay joins the combination once, as one process adds it once to
its loss. With asynchronous updates each worker applies its own update,
as one machine does.

With `precision` mixed_float16 the optimizer scales the loss dynamically
(`LossScaledOptimizer`): float16 gradients below 2^-24 would vanish, so
the loss is multiplied by a scale before differentiation and the float32
gradients divided by it after; an update whose gradients overflowed is
skipped (each one logged and counted), halving the scale.
"""
import dataclasses
from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

import tensorflow as tf

from fcn_graph.distributed import SynchronousAggregation
from fcn_graph.layers import DECAY_COLLECTION
from fcn_graph.losses import weight_decay_loss

v1 = tf.compat.v1


@dataclass
class Update:
    """Graph pieces of one training update.

    `accumulate_op` (None when accumulate == 1) adds one batch's gradients to
    the accumulators; `apply_op` applies an update and advances the global
    step (with accumulation it consumes the accumulators, otherwise it
    computes the gradients of its own batch). With synchronous updates on a
    cluster, `apply_op` only pushes this worker's gradients to `aggregation`;
    `aggregate`, run by the chief once every worker's are in, applies the
    step and evaluates to the new global step.
    """
    total_loss: tf.Tensor
    learning_rate: tf.Tensor
    accumulate_op: Optional[tf.Operation]
    apply_op: tf.Operation
    gradients: List[Tuple[tf.Tensor, tf.Variable]]
    aggregation: Optional[SynchronousAggregation] = None
    aggregate: Optional[tf.Tensor] = None
    # Optimizer state worth a TensorBoard scalar (the loss scale): {tag: variable}.
    scalars: Mapping[str, tf.Variable] = dataclasses.field(default_factory=dict)


def learning_rate(config, global_step):
    """Fixed, or polynomial decay from `lr` to 0 at `max_steps` (the 'poly' policy)."""
    if config.lr_policy == "fixed":
        return tf.constant(float(config.lr), name="learning_rate")
    return tf.identity(v1.train.polynomial_decay(
        float(config.lr), global_step, config.max_steps, end_learning_rate=0.0,
        power=config.lr_power), name="learning_rate")


def make_optimizer(config, lr):
    optimizer = v1.train.AdamOptimizer(lr) if config.optimizer == "adam" \
        else v1.train.MomentumOptimizer(lr, config.momentum)
    return LossScaledOptimizer(optimizer) if config.precision == "mixed_float16" else optimizer


# Micikevicius et al. 2018's dynamic scaling, with Keras's constants: start
# at 2^15, halve on overflow (never below 1), double after 2000 finite updates.
INITIAL_LOSS_SCALE = 2.0 ** 15
LOSS_SCALE_GROWTH_INTERVAL = 2000


class LossScaledOptimizer:
    """A v1 optimizer's `compute_gradients` and `apply_gradients` under a dynamic loss scale.

    Its state (`loss_scale/scale`, `good_updates`, `skipped_updates`) lives
    in non-trainable variables, saved with the checkpoints. A skipped update
    still advances the global step, which counts updates attempted, so the
    learning-rate schedule and the checkpoint steps stay the loop's.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        with v1.variable_scope("loss_scale"):
            self.scale = v1.get_variable("scale", [], tf.float32, trainable=False,
                                         initializer=v1.constant_initializer(INITIAL_LOSS_SCALE))
            self.good_updates, self.skipped_updates = (
                v1.get_variable(name, [], tf.int64, trainable=False,
                                initializer=v1.zeros_initializer())
                for name in ("good_updates", "skipped_updates"))

    @property
    def scalars(self):
        return {"train/loss_scale": self.scale, "train/skipped_updates": self.skipped_updates}

    def compute_gradients(self, loss, **kwargs):
        scale = self.scale.read_value()
        return [(None if g is None else g / scale, v)
                for g, v in self.optimizer.compute_gradients(loss * scale, **kwargs)]

    def apply_gradients(self, grads_and_vars, global_step=None):
        grads_and_vars = list(grads_and_vars)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g, _ in grads_and_vars])
        scale, good = self.scale.read_value(), self.good_updates.read_value()

        def apply():
            with tf.control_dependencies([self.optimizer.apply_gradients(grads_and_vars,
                                                                         global_step)]):
                grow = good + 1 >= LOSS_SCALE_GROWTH_INTERVAL
                return tf.group(self.scale.assign(tf.where(grow, 2.0 * scale, scale)),
                                self.good_updates.assign(tf.where(grow, tf.constant(0, tf.int64),
                                                                  good + 1)))

        def skip():
            halved = tf.maximum(scale / 2.0, 1.0)
            skipped = self.skipped_updates.assign_add(1)
            advanced = [global_step.assign_add(1)] if global_step is not None else []
            note = tf.print("skipped an update: its float16 gradients overflowed; loss scale",
                            scale, "->", halved, "; updates skipped so far:", skipped)
            return tf.group(self.scale.assign(halved), self.good_updates.assign(0), note,
                            *advanced)

        return tf.group(tf.cond(finite, apply, skip), name="loss_scaled_update")


def is_bias(variable):
    return variable.op.name.endswith("biases")


def scale_bias_gradients(grads_and_vars, multiplier):
    """Biases learn `multiplier` times faster: exact for SGD, whose step is linear in the gradient."""
    if multiplier == 1.0:
        return grads_and_vars
    return [(g * multiplier if is_bias(v) else g, v) for g, v in grads_and_vars]


def build_update(data_loss, config, global_step, random_stream, task=None):
    """Add weight decay, then the optimizer's update of every trainable variable.

    Every op run once per batch (the update, or the accumulation) also
    advances `random_stream`, after the batch's dropout masks were drawn.
    `task` is this process's `fcn_graph.distributed.ClusterTask`, None on
    one machine.
    """
    with tf.name_scope("train"):
        total_loss = tf.add(data_loss, weight_decay_loss(config.weight_decay), name="total_loss")
        lr = learning_rate(config, global_step)
        optimizer = make_optimizer(config, lr)
        scalars = getattr(optimizer, "scalars", {})
        # Batch-norm moving averages of the training towers, built before this
        # (validation, built after, keeps its statistics fixed): updated by every batch.
        statistics = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        if task is not None and not config.asynchronous:
            return dataclasses.replace(
                synchronous_update(data_loss, total_loss, lr, optimizer, config, global_step,
                                   random_stream, statistics, task), scalars=scalars)
        grads_and_vars = scale_bias_gradients(gradients(optimizer, total_loss),
                                              config.bias_lr_mult)
        if config.accumulate == 1:
            apply_op = tf.group(optimizer.apply_gradients(grads_and_vars, global_step),
                                *statistics)
            return Update(total_loss, lr, None, advancing(apply_op, random_stream),
                          grads_and_vars, scalars=scalars)
        accumulate_op, averaged, sums = accumulators(grads_and_vars, config.accumulate)
        accumulate_op = advancing(tf.group(accumulate_op, *statistics), random_stream)
        apply_op = optimizer.apply_gradients(averaged, global_step)
        return Update(total_loss, lr, accumulate_op,
                      emptying(sums, apply_op, "apply_accumulated"), averaged, scalars=scalars)


def gradients(optimizer, loss):
    """(gradient, variable) of every trainable variable that `loss` depends on."""
    # Colocated, each tower's backward pass runs on the device of its forward pass.
    grads_and_vars = [(g, v) for g, v in
                      optimizer.compute_gradients(loss, colocate_gradients_with_ops=True)
                      if g is not None]
    if not grads_and_vars:
        raise ValueError("the model has no trainable variable that the loss depends on")
    return grads_and_vars


def synchronous_update(data_loss, total_loss, lr, optimizer, config, global_step, random_stream,
                       statistics, task):
    """A worker's push of its data-loss gradient, and the chief's aggregate of every worker's."""
    grads_and_vars = gradients(optimizer, data_loss)
    aggregation = SynchronousAggregation([v for _, v in grads_and_vars], task.num_workers,
                                         task.worker_index)
    if config.accumulate == 1:
        accumulate_op = None
        push = tf.group(aggregation.push([g for g, _ in grads_and_vars], global_step),
                        *statistics)
        apply_op = advancing(push, random_stream)
    else:
        accumulate_op, averaged, sums = accumulators(grads_and_vars, config.accumulate)
        accumulate_op = advancing(tf.group(accumulate_op, *statistics), random_stream)
        apply_op = emptying(sums, aggregation.push([g for g, _ in averaged], global_step),
                            "push_accumulated")
    combined = scale_bias_gradients(combined_gradients(aggregation, config), config.bias_lr_mult)
    with tf.control_dependencies([optimizer.apply_gradients(combined, global_step)]):
        new_step = global_step.read_value()
    with tf.control_dependencies([aggregation.release(new_step)]):
        aggregate = tf.identity(new_step, name="aggregate")
    return Update(total_loss, lr, accumulate_op, apply_op, grads_and_vars, aggregation, aggregate)


def combined_gradients(aggregation, config):
    """Every worker's data-loss gradient combined as towers combine their losses, plus the
    gradient of the weight decay, once.

    A summed loss over N workers' batches is the sum of their sums, so the
    mean that the accumulators hand out is multiplied by N: averaging would
    silently divide the step by N. Means over equally large batches average.
    """
    scale = float(aggregation.num_workers) if config.loss_normalize == "sum" else 1.0
    decayed = {v.op.name for v in v1.get_collection(DECAY_COLLECTION)}
    combined = []
    for grad, var in aggregation.gathered(scale):
        if config.weight_decay and var.op.name in decayed:
            with v1.device(var.device):
                # The gradient of weight_decay_loss: rate * 0.5 * ||w||^2.
                grad = grad + float(config.weight_decay) * var.read_value()
        combined.append((grad, var))
    return combined


def emptying(sums, op, name):
    """`op`, then the accumulation sums back to zero.

    Zeroing ops built outside this could run before `op` has read the sums;
    these wait for it.
    """
    with tf.control_dependencies([op]):
        return tf.group(*[s.assign(tf.zeros_like(s)) for s in sums], name=name)


def advancing(op, random_stream):
    """`op`, then one step of the random stream (its reads by `op` come first)."""
    with tf.control_dependencies([op]):
        advance = random_stream.assign_add(1)
    return tf.group(op, advance, name=op.name.split("/")[-1] + "_and_advance")


def accumulators(grads_and_vars, count):
    """(op adding the gradients, mean gradients paired with variables, the sum variables)."""
    with v1.variable_scope("gradient_accumulators"):
        sums = [v1.get_variable(v.op.name, v.shape, v.dtype.base_dtype,
                                initializer=v1.zeros_initializer(), trainable=False,
                                collections=[v1.GraphKeys.LOCAL_VARIABLES])
                for _, v in grads_and_vars]
    accumulate_op = tf.group(*[s.assign_add(g) for s, (g, _) in zip(sums, grads_and_vars)],
                             name="accumulate")
    averaged = [(s.read_value() / count, v) for s, (_, v) in zip(sums, grads_and_vars)]
    return accumulate_op, averaged, sums
