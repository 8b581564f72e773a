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
# The blocks `--recompute` runs again during backprop (see `recomputed`).
RECOMPUTED_BLOCKS = 2


def build_vgg(images, arch="vgg16", geometry="caffe", is_training=None, weights=None,
              width=1.0, dropout_rate=0.5, random_stream=None, recompute_blocks=0):
    """Build the backbone on RGB 0..255 NHWC `images`; return (fc7, end_points).

    `geometry='caffe'` is the reference (conv1_1 pad 100, fc6 VALID);
    `'same'` pads every layer SAME. `width` scales every channel count
    (1.0 is VGG; smaller widths make cheap test and demo networks).
    `recompute_blocks` (training only) recomputes the input convention and
    the first that many blocks during backprop instead of keeping their
    activations (see `recomputed`).
    """
    check_arch(arch)
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; choose one of {GEOMETRIES}")
    if is_training is None:
        is_training = tf.compat.v1.placeholder_with_default(False, [], name="is_training")
    blocks = list(enumerate(zip(REPEATS[arch], BLOCK_CHANNELS), start=1))
    if not 0 <= recompute_blocks <= len(blocks):
        raise ValueError(f"recompute_blocks must lie in 0..{len(blocks)}, got {recompute_blocks}")
    end_points = {}

    def early_stage(x, points):
        x = apply_input_convention(x, weights)
        if geometry == "caffe":
            pad = CAFFE_INPUT_PAD
            x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], name="conv1_1_pad")
        return conv_blocks(x, blocks[:recompute_blocks], geometry, width, points)

    net = recomputed(early_stage, images, end_points) if recompute_blocks \
        else early_stage(images, end_points)
    net = conv_blocks(net, blocks[recompute_blocks:], geometry, width, end_points)
    fc6_padding = "VALID" if geometry == "caffe" else "SAME"
    net = end_points["fc6"] = layers.conv(net, "fc6", scaled(FC_CHANNELS, width), FC6_SIZE,
                                          padding=fc6_padding)
    net = layers.dropout(net, dropout_rate, is_training, "drop6", random_stream)
    net = end_points["fc7"] = layers.conv(net, "fc7", scaled(FC_CHANNELS, width), 1)
    net = layers.dropout(net, dropout_rate, is_training, "drop7", random_stream)
    return net, end_points


def conv_blocks(net, blocks, geometry, width, end_points):
    """The 3x3 convolutions and the pooling of each (block, (repeats, channels)) in turn."""
    for block, (repeats, channels) in blocks:
        for i in range(1, repeats + 1):
            name = f"conv{block}_{i}"
            # conv1_1's padding was applied with the input convention in the caffe geometry.
            padding = "VALID" if (geometry == "caffe" and name == "conv1_1") else "SAME"
            net = end_points[name] = layers.conv(net, name, scaled(channels, width), 3,
                                                 padding=padding)
        net = end_points[f"pool{block}"] = layers.max_pool(net, f"pool{block}")
    return net


def recomputed(stage, images, end_points):
    """`stage(images, end_points)` whose activations are not kept for backprop: its gradient
    runs it again once the backward pass has reached its output.

    The first two VGG blocks hold the largest activations for the least
    arithmetic (full and half resolution at 64 and 128 channels). The second
    run applies the same ops to the same inputs and variables, so the
    gradients are those of the plain graph. It waits on the incoming
    gradient through a control dependency. `tf.recompute_grad`, which waits
    through arithmetic on that gradient instead, ran its second pass early
    here: the step's allocations then peaked above the plain graph's, with
    both runs' activations held together.
    """
    scope = tf.compat.v1.get_variable_scope()

    @tf.custom_gradient
    def run(x):
        def gradient(upstream, variables=None):
            with tf.name_scope("recompute"):
                with tf.control_dependencies([upstream]):
                    again = tf.identity(x, name="input")
                with tf.compat.v1.variable_scope(scope, reuse=True):
                    output = stage(again, {})
            # The images need no gradient; the variables read in the stage do.
            return None, tf.gradients(output, variables, grad_ys=upstream)

        return stage(x, end_points), gradient

    return run(images)
