"""The tutorials' small street-scene FCN, with an optional skip decoder.

conv3x3(32) -> 4 x (pool2x2 -> conv3x3(64) -> conv3x3(64)) -> conv1x1(C),
then a fixed bilinear 16x upsampling back to the input. With `skips`, the
coarse features instead climb back one octave at a time: a learnable 2x
transposed convolution (bilinear at start) lands on the encoder features of
the same resolution, is concatenated with them and mixed by a 3x3
convolution, so boundaries come from the fine levels.
"""
import tensorflow as tf

from fcn_graph import layers
from fcn_graph.nets import Net, normalize, open_scope, pad_to_multiple, training_flag
from fcn_graph.upsampling import upsample_bilinear
from fcn_graph.vgg import scaled

STEM_CHANNELS = 32
BLOCK_CHANNELS = 64
BLOCKS = 4
STRIDE = 2 ** BLOCKS


def build(images, num_classes, is_training=None, skips=False, width=1.0, scope=None):
    """Build on RGB 0..255 NHWC `images`; any height and width (padded to a multiple of 16)."""
    with open_scope(scope):
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        is_training = training_flag(is_training)
        end_points = {}
        net = pad_to_multiple(normalize(images), STRIDE)
        net = end_points["conv1"] = layers.conv(net, "conv1", scaled(STEM_CHANNELS, width), 3)
        levels = [net]
        for block in range(2, BLOCKS + 2):
            net = end_points[f"pool{block - 1}"] = layers.max_pool(net, f"pool{block - 1}")
            for i in (1, 2):
                name = f"conv{block}_{i}"
                net = end_points[name] = layers.conv(net, name, scaled(BLOCK_CHANNELS, width), 3)
            levels.append(net)
        if skips:
            net = skip_decoder(levels, width, end_points)
            score = end_points["score"] = layers.conv(net, "score", num_classes, 1, relu=False)
        else:
            coarse = end_points["score"] = layers.conv(net, "score", num_classes, 1, relu=False)
            score = end_points["upscore"] = upsample_bilinear(coarse, STRIDE, name="upscore")
        logits = end_points["logits"] = layers.crop(score, 0, images, name="logits")
    return Net(images=images, logits=logits, end_points=end_points, is_training=is_training)


def skip_decoder(levels, width, end_points):
    """Climb from the coarsest level to full resolution, fusing each encoder level on the way."""
    net = levels[-1]
    for level in range(len(levels) - 2, -1, -1):
        skip = levels[level]
        dims = tf.shape(skip)
        up = end_points[f"up{level}"] = layers.upsample(
            net, f"up{level}", 2, output_shape=tf.stack([dims[0], dims[1], dims[2], net.shape[-1]]),
            padding="SAME", trainable=True)
        up.set_shape(skip.shape[:3].concatenate(net.shape[-1:]))
        merged = tf.concat([up, skip], axis=-1, name=f"concat{level}")
        channels = STEM_CHANNELS if level == 0 else BLOCK_CHANNELS
        net = end_points[f"fuse{level}"] = layers.conv(merged, f"fuse{level}",
                                                       scaled(channels, width), 3)
    return net
