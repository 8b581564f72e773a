"""The input convention of a weight source: channel order and mean.

Images always enter the graph as RGB 0..255. Each weight source was
trained on its own preprocessing (Caffe: BGR minus a BGR mean; MatConvNet
and TF-slim: RGB minus an RGB mean), so the graph applies the convention of
the weights it will receive. The convention is recorded in the graph as
constants so a restore can refuse weights that expect another one.
"""
from dataclasses import dataclass
from typing import Tuple

import tensorflow as tf

from fcn_graph.errors import SettingsError

# Mean pixel of the FCN reference (ILSVRC training set), in BGR order.
REFERENCE_BGR_MEAN = (104.00698793, 116.66876762, 122.67891434)


@dataclass(frozen=True)
class InputConvention:
    """Channel order and mean of the images a network's weights were trained on."""
    channel_order: str = "BGR"
    mean: Tuple[float, float, float] = REFERENCE_BGR_MEAN


REFERENCE_CONVENTION = InputConvention()

CHANNEL_ORDER_NAME = "preprocess/channel_order"
MEAN_NAME = "preprocess/mean"


def convention_of(weights):
    """(channel_order, mean) of an object with `.channel_order` and `.mean`, or the reference's."""
    if weights is None:
        weights = REFERENCE_CONVENTION
    order = str(weights.channel_order).upper()
    mean = tuple(float(m) for m in weights.mean)
    if order not in ("RGB", "BGR") or len(mean) != 3:
        raise SettingsError(f"input convention needs channel_order RGB/BGR and a 3-value mean, "
                            f"got {weights.channel_order!r} and {weights.mean!r}")
    return order, mean


def apply_input_convention(images, weights=None):
    """RGB 0..255 images -> the weight source's channel order, minus its mean."""
    order, mean = convention_of(weights)
    with tf.name_scope("preprocess"):
        tf.constant(order, name="channel_order")
        mean_t = tf.constant(mean, dtype=tf.float32, name="mean")
        images = tf.cast(images, tf.float32)
        if order == "BGR":
            images = tf.reverse(images, axis=[-1])
        return tf.subtract(images, mean_t, name="centered")
