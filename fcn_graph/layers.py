"""Graph layers built from `tf.nn` and `tf.compat.v1.get_variable`.

Every parametrised layer opens a variable scope named after the layer, so
its variables are `<layer>/weights` and `<layer>/biases` under whatever
outer scope the caller has opened: the names of the Caffe reference, which
lets every weight source and checkpoint map one to one.
"""
import zlib

import tensorflow as tf

from fcn_graph.upsampling import bilinear_initializer, kernel_size

# Weights that receive weight decay; biases and fixed deconvolutions never do.
DECAY_COLLECTION = "fcn_graph_weight_decay"
# The counter dropout masks are drawn from, when the graph has one.
RANDOM_STREAM_COLLECTION = "fcn_graph_random_stream"

v1 = tf.compat.v1

INITIALIZERS = {
    # He et al.: keeps activation variance through deep ReLU stacks when a
    # layer is trained from scratch (pretrained layers are loaded over it).
    "he": lambda: v1.variance_scaling_initializer(scale=2.0, mode="fan_in",
                                                  distribution="truncated_normal"),
    # The reference zero-initialises every score layer so that training
    # starts from the backbone's features without random class noise.
    "zeros": v1.zeros_initializer,
}


def register_decay(weights):
    """Add a kernel to the decay set once, even when a second tower reuses it."""
    if weights not in v1.get_collection(DECAY_COLLECTION):
        v1.add_to_collection(DECAY_COLLECTION, weights)


def conv(x, name, out_channels, ksize, stride=1, padding="SAME", relu=True,
         initializer="he", trainable=True, decay=True):
    """Convolution + bias (+ ReLU) with variables `name/weights` (HWIO) and `name/biases`."""
    in_channels = x.shape[-1]
    if in_channels is None:
        raise ValueError(f"{name}: the input's channel count must be known when building")
    with v1.variable_scope(name):
        weights = v1.get_variable("weights", [ksize, ksize, in_channels, out_channels],
                                  initializer=INITIALIZERS[initializer](), trainable=trainable)
        biases = v1.get_variable("biases", [out_channels], initializer=v1.zeros_initializer(),
                                 trainable=trainable)
        if trainable and decay:
            register_decay(weights)
        y = tf.nn.bias_add(tf.nn.conv2d(x, weights, [1, stride, stride, 1], padding), biases)
        return tf.nn.relu(y, name="relu") if relu else tf.identity(y, name="output")


def max_pool(x, name):
    """2x2 stride-2 max pooling; SAME equals Caffe's ceil rounding (VALID is floor)."""
    return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME", name=name)


def create_random_stream():
    """A saved int64 counter that every later dropout draws its masks from.

    TensorFlow's stateful generators restart with each session, so a run
    resumed from a checkpoint would draw the masks of its first steps again.
    Masks drawn statelessly from (layer, counter), with the counter advanced
    once per training batch and saved with the weights, are the same whether
    or not the run was interrupted.
    """
    counter = v1.get_variable("random_stream", [], tf.int64, initializer=v1.zeros_initializer(),
                              trainable=False)
    v1.add_to_collection(RANDOM_STREAM_COLLECTION, counter)
    return counter


def dropout(x, rate, is_training, name):
    """Element-wise dropout active only when the boolean tensor `is_training` is true.

    Masks come from the graph's random stream when one was created (see
    `create_random_stream`), else from TensorFlow's stateful generator.
    """
    with tf.name_scope(name) as scope:
        if not rate:
            return tf.identity(x)
        stream = v1.get_collection(RANDOM_STREAM_COLLECTION)
        if stream:
            graph_seed = v1.get_default_graph().seed or 0
            layer_seed = zlib.crc32(scope.encode()) ^ graph_seed
            seed = tf.stack([tf.constant(layer_seed, tf.int64), stream[0].read_value()])

            def drop():
                return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seed)
        else:
            def drop():
                return tf.nn.dropout(x, rate=rate)
        return tf.cond(is_training, drop, lambda: tf.identity(x))


def upsample(x, name, factor, output_shape=None, padding="VALID", trainable=False):
    """Transposed convolution C->C initialised to the bilinear kernel, no bias.

    VALID (the reference's pad 0) produces (n-1)*f + k pixels, to be cropped;
    SAME with an explicit `output_shape` lands on the shape of a skip tensor.
    Fixed by default as in the reference; trainable ones get weight decay.
    """
    channels = x.shape[-1]
    size = kernel_size(factor)
    with v1.variable_scope(name):
        weights = v1.get_variable("weights", [size, size, channels, channels],
                                  initializer=bilinear_initializer, trainable=trainable)
        if trainable:
            register_decay(weights)
        dims = tf.shape(x)
        if output_shape is None:
            if padding != "VALID":
                raise ValueError(f"{name}: SAME upsampling needs the output shape it must match")
            output_shape = tf.stack([dims[0], (dims[1] - 1) * factor + size,
                                     (dims[2] - 1) * factor + size, channels])
        y = tf.nn.conv2d_transpose(x, weights, output_shape, [1, factor, factor, 1], padding)
        return tf.identity(y, name="output")


def crop(x, offset, like, name=None):
    """Crop `x` spatially at (offset, offset) to the height and width of `like` (Caffe's Crop)."""
    with tf.name_scope(name or "crop"):
        target = tf.shape(like)
        y = tf.slice(x, [0, offset, offset, 0], tf.stack([-1, target[1], target[2], -1]))
        y.set_shape([x.shape[0], like.shape[1], like.shape[2], x.shape[3]])
        return y
