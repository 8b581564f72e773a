"""Optimizers, learning-rate policies, bias learning-rate multiplier and gradient accumulation.

The global step counts applied updates, never images: one update consumes
`batch_size * accumulate` images. With `accumulate` N > 1, gradients of N
consecutive batches are summed into non-trainable variables (kept out of
checkpoints: they are zero whenever a checkpoint is written, right after an
update) and their mean is applied once, as Caffe's `iter_size` does.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import tensorflow as tf

from fcn_graph.losses import weight_decay_loss

v1 = tf.compat.v1


@dataclass
class Update:
    """Graph pieces of one training update.

    `accumulate_op` (None when accumulate == 1) adds one batch's gradients to
    the accumulators; `apply_op` applies an update and advances the global
    step (with accumulation it consumes the accumulators, otherwise it
    computes the gradients of its own batch).
    """
    total_loss: tf.Tensor
    learning_rate: tf.Tensor
    accumulate_op: Optional[tf.Operation]
    apply_op: tf.Operation
    gradients: List[Tuple[tf.Tensor, tf.Variable]]


def learning_rate(config, global_step):
    """Fixed, or polynomial decay from `lr` to 0 at `max_steps` (the 'poly' policy)."""
    if config.lr_policy == "fixed":
        return tf.constant(float(config.lr), name="learning_rate")
    return tf.identity(v1.train.polynomial_decay(
        float(config.lr), global_step, config.max_steps, end_learning_rate=0.0,
        power=config.lr_power), name="learning_rate")


def make_optimizer(config, lr):
    if config.optimizer == "adam":
        return v1.train.AdamOptimizer(lr)
    return v1.train.MomentumOptimizer(lr, config.momentum)


def is_bias(variable):
    return variable.op.name.endswith("biases")


def scale_bias_gradients(grads_and_vars, multiplier):
    """Biases learn `multiplier` times faster: exact for SGD, whose step is linear in the gradient."""
    if multiplier == 1.0:
        return grads_and_vars
    return [(g * multiplier if is_bias(v) else g, v) for g, v in grads_and_vars]


def build_update(data_loss, config, global_step, random_stream):
    """Add weight decay, then the optimizer's update of every trainable variable.

    Every op run once per batch (the update, or the accumulation) also
    advances `random_stream`, after the batch's dropout masks were drawn.
    """
    with tf.name_scope("train"):
        total_loss = tf.add(data_loss, weight_decay_loss(config.weight_decay), name="total_loss")
        lr = learning_rate(config, global_step)
        optimizer = make_optimizer(config, lr)
        # Colocated, each tower's backward pass runs on the device of its forward pass.
        grads_and_vars = [(g, v) for g, v in
                          optimizer.compute_gradients(total_loss, colocate_gradients_with_ops=True)
                          if g is not None]
        if not grads_and_vars:
            raise ValueError("the model has no trainable variable that the loss depends on")
        grads_and_vars = scale_bias_gradients(grads_and_vars, config.bias_lr_mult)
        # Batch-norm moving averages of the training towers, built before this
        # (validation, built after, keeps its statistics fixed): updated by every batch.
        statistics = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        if config.accumulate == 1:
            apply_op = tf.group(optimizer.apply_gradients(grads_and_vars, global_step),
                                *statistics)
            return Update(total_loss, lr, None, advancing(apply_op, random_stream),
                          grads_and_vars)
        accumulate_op, averaged, sums = accumulators(grads_and_vars, config.accumulate)
        accumulate_op = advancing(tf.group(accumulate_op, *statistics), random_stream)
        apply_op = optimizer.apply_gradients(averaged, global_step)
        # Zeroing ops built outside this block could run before the update
        # has read the sums; here they wait for it.
        with tf.control_dependencies([apply_op]):
            apply_and_reset = tf.group(*[s.assign(tf.zeros_like(s)) for s in sums],
                                       name="apply_accumulated")
        return Update(total_loss, lr, accumulate_op, apply_and_reset, averaged)


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
