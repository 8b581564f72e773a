"""Data-parallel towers: one batch split across devices, one loss, one update.

Each tower builds the network on its slice of the batch on its own device,
sharing the variables, which live on the CPU where every tower can read
them. The tower losses are combined as the loss's normalisation asks (a
sum stays a sum; tower means are averaged, which equals the mean over the
whole batch when the towers hold equally many valid pixels) and
differentiated once, with every gradient op colocated with its forward op,
so each tower's backward pass runs on its own device and only the
gradients meet for the update. With --class-weights each pixel's loss is
weighed by its true class (`fcn_graph.class_weights`).
"""
import contextlib
import dataclasses

import tensorflow as tf

from fcn_graph.class_weights import METHODS, class_weights, count_pixels
from fcn_graph.losses import pixelwise_softmax_loss
from fcn_graph.errors import SettingsError
from fcn_graph.models import build
from fcn_graph.training.config import UNSET
from fcn_graph.vgg import RECOMPUTED_BLOCKS

v1 = tf.compat.v1
# Ops that hold variable state: placed with the variables, not the tower.
VARIABLE_OPS = ("Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable")
VARIABLE_DEVICE = "/cpu:0"


def tower_devices(towers):
    """Devices of `towers` towers: the visible GPUs in turn, or the CPU when there are none.

    None asks for one tower per visible GPU (a single tower without any).
    """
    gpus = [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]
    count = towers or max(len(gpus), 1)
    if count < 1:
        raise SettingsError(f"--towers must be at least 1, got {count}")
    if gpus and count > len(gpus):
        raise SettingsError(f"{count} towers asked for but only {len(gpus)} GPUs are visible")
    return [gpus[i] if gpus else "/cpu:0" for i in range(count)]


def placement(devices, index):
    """The device scope of tower `index`; a lone tower is left to TensorFlow's placer.

    (`replica_device_setter` cannot do this: without parameter-server tasks
    it returns None, which places nothing.)
    """
    if len(devices) == 1:
        return contextlib.nullcontext()
    worker = devices[index]

    def device_of(op):
        kind = op.type if isinstance(op, tf.Operation) else op.op
        return VARIABLE_DEVICE if kind in VARIABLE_OPS else worker

    return v1.device(device_of)


def tower_names(index):
    # Tower 0 builds at the root, so names such as preprocess/mean stay where
    # restores and exports look for them.
    return tf.name_scope(f"tower_{index}") if index else contextlib.nullcontext()


def build_tower_loss(config, batch, source, spec, devices, random_stream=None):
    """The batch's data loss, computed by one tower per device."""
    count = len(devices)
    if config.batch_size % count:
        raise SettingsError(f"--batch-size {config.batch_size} does not split evenly over "
                            f"{count} towers; use a multiple of {count}")
    weights = loss_class_weights(config.class_weights, source, config.split)
    images = tf.split(batch["image"], count) if count > 1 else [batch["image"]]
    labels = tf.split(batch["label"], count) if count > 1 else [batch["label"]]
    losses = []
    for index in range(count):
        with placement(devices, index), tower_names(index), \
                v1.variable_scope(v1.get_variable_scope(), reuse=index > 0):
            net = build(spec, images[index], is_training=tf.constant(True),
                        random_stream=random_stream,
                        recompute_blocks=RECOMPUTED_BLOCKS if config.recompute else 0)
            losses.append(pixelwise_softmax_loss(net.logits, labels[index], source.ignore_label,
                                                 normalize=config.loss_normalize,
                                                 class_weights=weights))
    if count == 1:
        return losses[0]
    combine = tf.add_n if config.loss_normalize == "sum" else (
        lambda parts: tf.reduce_mean(tf.stack(parts)))
    return tf.identity(combine(losses), name="data_loss")


def loss_class_weights(setting, source, split):
    """The --class-weights setting as float32 weights, one per class of `source`, or None.

    A method (median-frequency, inverse-sqrt) counts the pixels of every
    label map of the split, read with `source.read_label`; a list of
    numbers (or "w1,w2,...") is checked against the classes.
    """
    if setting is None or setting is UNSET:
        return None
    if isinstance(setting, str) and setting in METHODS:
        labels = (source.read_label(label) for _, label, _ in source.examples(split))
        return class_weights(count_pixels(labels, source.num_classes, source.ignore_label),
                             setting)
    return class_weights(None, setting, num_classes=source.num_classes)


def resolved_class_weights(config, source):
    """`config` with its class weights as the numbers training uses, the form the run
    records: a method computed from the training split's labels, six significant digits."""
    weights = loss_class_weights(config.class_weights, source, config.split)
    listed = None if weights is None else [float(f"{w:.6g}") for w in weights]
    return dataclasses.replace(config, class_weights=listed)


def class_weights_line(weights, class_names):
    """The loss weight of each class, on one line."""
    return "loss class weights: " + ", ".join(
        f"{name} {weight:.4g}" for name, weight in zip(class_names, weights))
