"""VGG16 and VGG19 (Simonyan & Zisserman, configurations D and E) as a graph.

One function builds either depth from the layer table of
`fcn_graph.architecture` (re-exported here). fc6 and fc7 are convolutions
(7x7 and 1x1), so the network is fully convolutional and loads the
classifier's fully connected weights unchanged.
"""
import tensorflow as tf

from fcn_graph import layers
from fcn_graph.architecture import (BLOCK_CHANNELS, FC6_SIZE, FC_CHANNELS, REPEATS,  # noqa: F401
                                    check_arch, conv_layer_names, layer_names, scaled)
from fcn_graph.convention import apply_input_convention

# The reference pads conv1_1 by 100 so that fc6's VALID 7x7 leaves at least
# one cell for any input size, and the crops of the heads undo the shift.
CAFFE_INPUT_PAD = 100
GEOMETRIES = ("caffe", "same")


def build_vgg(images, arch="vgg16", geometry="caffe", is_training=None, weights=None,
              width=1.0, dropout_rate=0.5, random_stream=None):
    """Build the backbone on RGB 0..255 NHWC `images`; return (fc7, end_points).

    `geometry='caffe'` is the reference (conv1_1 pad 100, fc6 VALID);
    `'same'` pads every layer SAME. `width` scales every channel count
    (1.0 is VGG; smaller widths make cheap test and demo networks).
    """
    check_arch(arch)
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; choose one of {GEOMETRIES}")
    if is_training is None:
        is_training = tf.compat.v1.placeholder_with_default(False, [], name="is_training")
    end_points = {}
    net = apply_input_convention(images, weights)
    if geometry == "caffe":
        pad = CAFFE_INPUT_PAD
        net = tf.pad(net, [[0, 0], [pad, pad], [pad, pad], [0, 0]], name="conv1_1_pad")
    for block, (repeats, channels) in enumerate(zip(REPEATS[arch], BLOCK_CHANNELS), start=1):
        for i in range(1, repeats + 1):
            name = f"conv{block}_{i}"
            # conv1_1's padding was applied above in the caffe geometry.
            padding = "VALID" if (geometry == "caffe" and name == "conv1_1") else "SAME"
            net = end_points[name] = layers.conv(net, name, scaled(channels, width), 3,
                                                 padding=padding)
        net = end_points[f"pool{block}"] = layers.max_pool(net, f"pool{block}")
    fc6_padding = "VALID" if geometry == "caffe" else "SAME"
    net = end_points["fc6"] = layers.conv(net, "fc6", scaled(FC_CHANNELS, width), FC6_SIZE,
                                          padding=fc6_padding)
    net = layers.dropout(net, dropout_rate, is_training, "drop6", random_stream)
    net = end_points["fc7"] = layers.conv(net, "fc7", scaled(FC_CHANNELS, width), 1)
    net = layers.dropout(net, dropout_rate, is_training, "drop7", random_stream)
    return net, end_points
