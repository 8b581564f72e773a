"""Networks beside the FCN heads: the tutorials' small FCN and a U-Net.

They are built from the same layer functions as the FCN heads
(`fcn_graph.layers`) and share the pieces below: the built-network record,
input normalisation and padding to the network's total stride, which
makes any input size work with exact 2x pooling and upsampling.
"""
import contextlib
from dataclasses import dataclass

import tensorflow as tf

from fcn_graph.convention import InputConvention, apply_input_convention

# ImageNet RGB statistics (0..255): images are centred and scaled per channel
# so that networks trained from scratch see unit-variance inputs.
IMAGENET_RGB_MEAN = (123.675, 116.28, 103.53)
IMAGENET_RGB_STD = (58.395, 57.12, 57.375)
IMAGENET_CONVENTION = InputConvention("RGB", IMAGENET_RGB_MEAN)
# The TensorFlow U-Net example only scales to 0..1: RGB, nothing subtracted.
UNIT_RANGE_CONVENTION = InputConvention("RGB", (0.0, 0.0, 0.0))


@dataclass
class Net:
    """A built network: `logits` (N, H, W, classes) aligned with `images`."""
    images: tf.Tensor
    logits: tf.Tensor
    end_points: dict
    is_training: tf.Tensor


def normalize(images):
    """RGB 0..255 -> per-channel standardised; records the convention like the FCN graphs do."""
    centred = apply_input_convention(images, IMAGENET_CONVENTION)
    return tf.divide(centred, tf.constant(IMAGENET_RGB_STD, tf.float32), name="normalized")


def scale_to_unit_range(images):
    """RGB 0..255 -> 0..1, uncentred, as the TensorFlow U-Net example feeds its network."""
    unshifted = apply_input_convention(images, UNIT_RANGE_CONVENTION)
    return tf.divide(unshifted, 255.0, name="normalized")


def pad_to_multiple(x, multiple, name="pad_to_stride"):
    """Zero-pad bottom and right so height and width are multiples of `multiple`.

    After normalisation zero is the mean colour (black for unit-range inputs).
    Every later 2x pooling and upsampling is then exact, and cropping the
    output at (0, 0) to the input size recovers pixel alignment.
    """
    with tf.name_scope(name):
        dims = tf.shape(x)
        pad_h = (multiple - dims[1] % multiple) % multiple
        pad_w = (multiple - dims[2] % multiple) % multiple
        return tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])


def open_scope(scope):
    return tf.compat.v1.variable_scope(scope) if scope else contextlib.nullcontext()


def training_flag(is_training):
    """The caller's boolean tensor, or a placeholder that defaults to inference."""
    if is_training is None:
        return tf.compat.v1.placeholder_with_default(False, [], name="is_training")
    return is_training
