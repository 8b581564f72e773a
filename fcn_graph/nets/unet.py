"""U-Net (Ronneberger et al. 2015) for multi-class segmentation.

A contracting path of two 3x3 convolutions per level and 2x2 pooling, and
an expanding path that upsamples 2x (fixed bilinear) and halves the
channels with a 2x2 convolution (the paper's "up-convolution"), then
concatenates the contracting features of that level and applies two 3x3
convolutions. Convolutions are SAME-padded, so the output keeps the input
size and no copy-and-crop is needed. A 1x1 convolution scores every pixel;
softmax and the categorical cross-entropy act on these logits.
"""
import tensorflow as tf

from fcn_graph import layers
from fcn_graph.nets import Net, normalize, open_scope, pad_to_multiple, training_flag
from fcn_graph.upsampling import upsample_bilinear
from fcn_graph.vgg import scaled


def double_conv(net, name, channels, end_points):
    for i in (1, 2):
        net = end_points[f"{name}_{i}"] = layers.conv(net, f"{name}_{i}", channels, 3)
    return net


def build(images, num_classes, is_training=None, depth=4, base_channels=64, width=1.0,
          dropout_rate=0.5, scope=None):
    """Build on RGB 0..255 NHWC `images`; any size (padded to a multiple of 2**depth).

    Level l (0 = full resolution) has base_channels * 2**l channels, the
    bottom level 2**depth times the base. Dropout acts at the bottom, where
    the paper puts it, and only while `is_training` is true.
    """
    if depth < 1:
        raise ValueError(f"U-Net depth must be at least 1, got {depth!r}")
    with open_scope(scope):
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        is_training = training_flag(is_training)
        end_points = {}
        net = pad_to_multiple(normalize(images), 2 ** depth)
        skips = []
        for level in range(depth):
            net = double_conv(net, f"down{level}", scaled(base_channels * 2 ** level, width),
                              end_points)
            skips.append(net)
            net = end_points[f"pool{level}"] = layers.max_pool(net, f"pool{level}")
        net = double_conv(net, "bottom", scaled(base_channels * 2 ** depth, width), end_points)
        net = layers.dropout(net, dropout_rate, is_training, "bottom_dropout")
        for level in range(depth - 1, -1, -1):
            channels = scaled(base_channels * 2 ** level, width)
            net = upsample_bilinear(net, 2, name=f"upsample{level}")
            net = end_points[f"upconv{level}"] = layers.conv(net, f"upconv{level}", channels, 2)
            net = tf.concat([skips[level], net], axis=-1, name=f"concat{level}")
            net = double_conv(net, f"up{level}", channels, end_points)
        score = end_points["score"] = layers.conv(net, "score", num_classes, 1, relu=False)
        logits = end_points["logits"] = layers.crop(score, 0, images, name="logits")
    return Net(images=images, logits=logits, end_points=end_points, is_training=is_training)
