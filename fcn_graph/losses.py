"""Training objectives: pixelwise softmax cross-entropy and weight decay."""
import numpy as np
import tensorflow as tf

from fcn_graph.errors import SettingsError
from fcn_graph.layers import DECAY_COLLECTION

NORMALIZATIONS = ("sum", "mean")


def pixelwise_softmax_loss(logits, labels, ignore_label=255, normalize="sum",
                           class_weights=None, name="pixelwise_softmax_loss"):
    """Softmax cross-entropy over every pixel whose label is not `ignore_label`.

    `normalize='sum'` is the reference (Caffe `normalize: false`), whose
    tiny learning rates assume a loss summed over the image; `'mean'`
    divides by the number of valid pixels, the scale Adam recipes expect.
    `class_weights` (num_classes,) weighs each pixel's cross-entropy by the
    weight of its true class (see `fcn_graph.class_weights`); the sum is
    then the weighted sum, and the mean divides it by the sum of the valid
    pixels' weights, a weighted average whose scale does not depend on the
    weights' overall size.
    A label outside [0, num_classes) that is not the ignore label fails the
    run rather than training on garbage.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    num_classes = logits.shape[-1]
    if num_classes is None:
        raise ValueError("the number of classes (last axis of logits) must be known")
    if class_weights is not None and np.size(class_weights) != num_classes:
        raise SettingsError(f"--class-weights gives {np.size(class_weights)} weights for "
                            f"{num_classes} classes; give one per class")
    with tf.name_scope(name):
        labels = tf.cast(labels, tf.int32)
        valid = tf.not_equal(labels, ignore_label)
        out_of_range = tf.logical_and(valid, tf.logical_or(labels < 0, labels >= num_classes))
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(out_of_range)),
            [f"labels must lie in [0, {num_classes}) or equal the ignore label {ignore_label}; "
             "found out-of-range values, e.g.:",
             tf.boolean_mask(labels, out_of_range)[:5]],
            name="check_label_range")
        with tf.control_dependencies([check]):
            safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
        # The fused op works on logits (log-sum-exp), never softmax + epsilon.
        pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=safe_labels, logits=tf.cast(logits, tf.float32))
        pixel_weight = tf.cast(valid, tf.float32)
        if class_weights is not None:
            table = tf.constant(class_weights, dtype=tf.float32, shape=[num_classes])
            pixel_weight *= tf.gather(table, safe_labels)
        total = tf.reduce_sum(pixel_loss * pixel_weight)
        if normalize == "sum":
            return tf.identity(total, name="loss")
        return tf.math.divide_no_nan(total, tf.reduce_sum(pixel_weight), name="loss")


def weight_decay_loss(rate, scope=None, name="weight_decay"):
    """rate * 0.5 * sum ||w||^2 over decayed weights: Caffe's `weight_decay`.

    Only kernels registered by the layers take part: never biases (the
    reference gives them decay_mult 0) and never fixed deconvolutions.
    """
    weights = tf.compat.v1.get_collection(DECAY_COLLECTION, scope)
    with tf.name_scope(name):
        if not rate or not weights:
            return tf.constant(0.0, name="loss")
        return tf.multiply(float(rate), tf.add_n([tf.nn.l2_loss(w) for w in weights]),
                           name="loss")
