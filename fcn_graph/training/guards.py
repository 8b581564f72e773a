"""Stopping a run that has gone numerically wrong, before it saves anything bad."""
import math

import tensorflow as tf

from fcn_graph.errors import TrainingError


def all_finite_op(variables, name="all_variables_finite"):
    """A boolean tensor: every value of every variable is finite (built once, at graph time)."""
    with tf.name_scope(name):
        return tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in variables]))


def check_loss(loss, step, config, last_checkpoint):
    """Raise TrainingError when the loss of update `step` is NaN or infinite."""
    if math.isfinite(loss):
        return
    raise TrainingError(
        f"the loss became {loss} at step {step}. Likely causes: {learning_rate_advice(config)} "
        f"or labels outside [0, num_classes) that are not the ignore label. "
        + resume_hint(last_checkpoint))


def check_weights(finite, step, config, last_checkpoint):
    """Raise TrainingError, saving nothing, when an update left NaN or infinite variables."""
    if not finite:
        raise TrainingError(
            f"some weights or optimizer slots became NaN or infinite at step {step}; nothing "
            f"was saved. Likely cause: {learning_rate_advice(config)}. "
            + resume_hint(last_checkpoint))


def learning_rate_advice(config):
    return (f"the learning rate is too high (lr={config.lr:g} with {config.optimizer}; try 10x "
            f"lower, e.g. --lr {config.lr / 10:g})")


# Messages of the label-range assertions of the input pipeline and of the loss.
LABEL_RANGE_MARKERS = ("label values outside", "check_label_range", "labels must lie")


def is_label_range_error(err):
    return any(marker in err.message for marker in LABEL_RANGE_MARKERS)


def labels_out_of_range(err, config):
    return TrainingError(
        f"the dataset {config.dataset!r} delivered labels outside [0, num_classes) that are not "
        f"the ignore label 255: {err.message.splitlines()[0]}. Check --num-classes and the "
        f"label files (`fcn-graph data check --dataset {config.dataset}`).")


def resume_hint(last_checkpoint):
    if last_checkpoint is None:
        return "No checkpoint had been saved yet."
    return (f"The last good checkpoint is {last_checkpoint}; continue from it with --resume "
            f"and a lower --lr.")
