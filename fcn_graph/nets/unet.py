"""U-Net (Ronneberger et al. 2015) for multi-class segmentation, in two styles.

A contracting path of two 3x3 convolutions per level and 2x2 pooling, and
an expanding path that upsamples 2x, concatenates the contracting features
of that level and applies two 3x3 convolutions. Convolutions are
SAME-padded, so the output keeps the input size and no copy-and-crop is
needed. A 1x1 convolution scores every pixel; softmax and the categorical
cross-entropy act on these logits.

- "paper": the paper's up-convolution as a fixed bilinear 2x upsampling
  followed by a learnable 2x2 convolution that halves the channels;
  dropout at the bottom; He initialisation; 4 levels from 64 channels.
- "tf_example": the TensorFlow U-Net example (Keras, Carvana masks): every
  convolution followed by batch normalisation and ReLU; a learnable 2x2
  stride-2 transposed convolution whose output is concatenated after the
  contracting features and batch-normalised with them before the ReLU;
  Glorot-uniform kernels, zero biases, no dropout; 5 levels of 32 to 512
  channels around a 1024-channel bottom; inputs scaled to 0..1.
"""
from dataclasses import dataclass

import tensorflow as tf

from fcn_graph import layers
from fcn_graph.errors import SettingsError
from fcn_graph.nets import (Net, normalize, open_scope, pad_to_multiple, scale_to_unit_range,
                            training_flag)
from fcn_graph.upsampling import upsample_bilinear
from fcn_graph.vgg import scaled


@dataclass(frozen=True)
class Style:
    depth: int            # poolings; the bottom level has base_channels * 2**depth channels
    base_channels: int
    dropout_rate: float   # at the bottom, while training
    batch_norm: bool
    transposed_up: bool   # a 2x2 stride-2 transposed convolution (else bilinear + 2x2 conv)
    initializer: str
    input_scaling: object  # RGB 0..255 -> the network's input


STYLES = {
    "paper": Style(4, 64, 0.5, False, False, "he", normalize),
    "tf_example": Style(5, 32, 0.0, True, True, "glorot_uniform", scale_to_unit_range),
}


def build(images, num_classes, is_training=None, depth=None, base_channels=None, width=1.0,
          dropout_rate=None, scope=None, style="paper", random_stream=None):
    """Build on RGB 0..255 NHWC `images`; any size (padded to a multiple of 2**depth).

    Level l (0 = full resolution) has base_channels * 2**l channels, the
    bottom level 2**depth times the base. `depth`, `base_channels` and
    `dropout_rate` default to the style's. Dropout acts at the bottom, where
    the paper puts it, and only while `is_training` is true; so does batch
    normalisation with the batch's statistics (see
    `layers.batch_normalization`: the train op must run UPDATE_OPS).
    `random_stream` makes the dropout masks resumable (see `layers.dropout`).
    """
    if style not in STYLES:
        raise SettingsError(f"unknown U-Net style {style!r}; choose one of {sorted(STYLES)}")
    spec = STYLES[style]
    depth = spec.depth if depth is None else depth
    base_channels = spec.base_channels if base_channels is None else base_channels
    dropout_rate = spec.dropout_rate if dropout_rate is None else dropout_rate
    if depth < 1:
        raise SettingsError(f"U-Net depth must be at least 1, got {depth!r}")
    with open_scope(scope):
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        is_training = training_flag(is_training)
        end_points = {}

        def conv(net, name, channels, ksize=3, relu=True):
            end_points[name] = layers.conv(net, name, channels, ksize, relu=relu,
                                           initializer=spec.initializer,
                                           batch_norm=spec.batch_norm and relu,
                                           is_training=is_training)
            return end_points[name]

        def double_conv(net, name, channels):
            return conv(conv(net, f"{name}_1", channels), f"{name}_2", channels)

        net = pad_to_multiple(spec.input_scaling(images), 2 ** depth)
        skips = []
        for level in range(depth):
            net = double_conv(net, f"down{level}", scaled(base_channels * 2 ** level, width))
            skips.append(net)
            net = end_points[f"pool{level}"] = layers.max_pool(net, f"pool{level}")
        net = double_conv(net, "bottom", scaled(base_channels * 2 ** depth, width))
        net = layers.dropout(net, dropout_rate, is_training, "bottom_dropout", random_stream)
        for level in range(depth - 1, -1, -1):
            channels = scaled(base_channels * 2 ** level, width)
            name = f"upconv{level}"
            if spec.transposed_up:
                net = end_points[name] = layers.conv_transpose(
                    net, name, channels, 2, 2, like=skips[level], initializer=spec.initializer,
                    biases=True)
            else:
                net = upsample_bilinear(net, 2, name=f"upsample{level}")
                net = conv(net, name, channels, ksize=2)
            net = tf.concat([skips[level], net], axis=-1, name=f"concat{level}")
            if spec.batch_norm:
                with tf.compat.v1.variable_scope(f"concat{level}"):
                    net = tf.nn.relu(layers.batch_normalization(net, "BatchNorm", is_training))
            net = double_conv(net, f"up{level}", channels)
        score = conv(net, "score", num_classes, ksize=1, relu=False)
        logits = end_points["logits"] = layers.crop(score, 0, images, name="logits")
    return Net(images=images, logits=logits, end_points=end_points, is_training=is_training)
