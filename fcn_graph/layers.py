"""Graph layers built from `tf.nn` and `tf.compat.v1.get_variable`.

Every parametrised layer opens a variable scope named after the layer, so
its variables are `<layer>/weights` and `<layer>/biases` under whatever
outer scope the caller has opened: the names of the Caffe reference, which
lets every weight source and checkpoint map one to one.
"""
import zlib

import tensorflow as tf

from fcn_graph.errors import SettingsError
from fcn_graph.upsampling import bilinear_initializer, kernel_size

# Weights that receive weight decay; biases and fixed deconvolutions never do.
DECAY_COLLECTION = "fcn_graph_weight_decay"
# Variables read in float32 whatever precision a network computes in: the
# fused batch-norm kernel takes its scale, offset and statistics in float32.
FLOAT32_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")
# 1x1 kernels (fc7, the score layers) and kernels this wide (fc6's 7x7) are
# applied as one matrix product over the patches. Measured on 2 CPU cores
# (oneDNN), forward and backward: fc6 2-4x faster than the direct
# convolution, fc7 1.2-1.6x (float32) and 2-3x (bfloat16), which also drops
# the weight reorders each convolution call makes.
PATCH_PRODUCT_KSIZE = 7

v1 = tf.compat.v1


def truncated_normal(stddev):
    """`tf.truncated_normal(shape, stddev=...)`: normal draws, those beyond 2 stddev redrawn."""
    return lambda: v1.truncated_normal_initializer(stddev=stddev)


INITIALIZERS = {
    # He et al.: keeps activation variance through deep ReLU stacks when a
    # layer is trained from scratch (pretrained layers are loaded over it).
    "he": lambda: v1.variance_scaling_initializer(scale=2.0, mode="fan_in",
                                                  distribution="truncated_normal"),
    # The reference zero-initialises every score layer so that training
    # starts from the backbone's features without random class noise.
    "zeros": v1.zeros_initializer,
    # Glorot & Bengio's uniform (limit sqrt(6 / (fan_in + fan_out))): the
    # default kernel of tf.layers and Keras layers, and TF-slim's
    # `xavier_initializer`, which every slim convolution (fc8 included) uses.
    "glorot_uniform": v1.glorot_uniform_initializer,
    # Hand-made variables of the KITTI road FCN-8s (score layers) and of the
    # ADE20K VGG19 FCN (score layer and every deconvolution).
    "truncated_normal_0.1": truncated_normal(0.1),
    "truncated_normal_0.02": truncated_normal(0.02),
    # A C->C transposed convolution that starts as bilinear interpolation.
    "bilinear": lambda: bilinear_initializer,
}


def initializer_of(name, option="initializer"):
    """The initializer named `name`; an unknown name is a settings error naming `option`."""
    if name not in INITIALIZERS:
        raise SettingsError(f"{option}={name!r} is not an initializer; "
                            f"choose one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]()


def register_decay(weights):
    """Add a kernel's variable to the decay set once, even when a second tower reuses it."""
    weights = variable_read_by(weights)
    if weights not in v1.get_collection(DECAY_COLLECTION):
        v1.add_to_collection(DECAY_COLLECTION, weights)


def variable_read_by(value):
    """The variable behind `value`: itself, or the variable a low-precision read casts.

    (`models.build` hands layers their float32 variables cast to the
    network's compute dtype: Cast(ReadVariableOp(handle)).)
    """
    if isinstance(value, tf.Variable) or value.op.type != "Cast":
        return value
    read = value.op.inputs[0].op
    if read.type != "ReadVariableOp":
        return value
    handle = read.inputs[0]
    return next((v for v in v1.global_variables() if v.handle is handle), value)


def convolve(x, weights, biases, stride, padding):
    """`tf.nn.conv2d` plus biases, or for a stride-1 kernel of 1x1 or PATCH_PRODUCT_KSIZE and
    more, the same sums as one product of the im2col patch matrix and the kernel (built from
    slices and a concatenation, which TFLite and XLA both take), biases added before the
    reshape so that grappler fuses them into the product."""
    ksize, _, in_channels, out_channels = weights.shape.as_list()
    if stride != 1 or 1 < ksize < PATCH_PRODUCT_KSIZE:
        return tf.nn.bias_add(tf.nn.conv2d(x, weights, [1, stride, stride, 1], padding), biases)
    with tf.name_scope("patch_product"):
        if padding == "SAME" and ksize > 1:
            before, after = (ksize - 1) // 2, ksize // 2
            x = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
        # Patch (i, j) of every output cell, ordered (row, column, channel) as HWIO.
        patches = x if ksize == 1 else tf.concat(
            [x[:, i:(i - ksize + 1) or None, j:(j - ksize + 1) or None, :]
             for i in range(ksize) for j in range(ksize)], axis=-1)
        product = tf.nn.bias_add(tf.matmul(tf.reshape(patches, [-1, ksize * ksize * in_channels]),
                                           tf.reshape(weights, [-1, out_channels])), biases)
        y = tf.reshape(product, tf.concat([tf.shape(patches)[:3], [out_channels]], 0))
        y.set_shape(patches.shape[:3].concatenate([out_channels]))
        return y


def known_channels(x, name):
    channels = x.shape[-1]
    if channels is None:
        raise ValueError(f"{name}: the input's channel count must be known when building")
    return channels


def conv(x, name, out_channels, ksize, stride=1, padding="SAME", relu=True,
         initializer="he", trainable=True, decay=True, batch_norm=False, is_training=None):
    """Convolution + bias (+ batch norm) (+ ReLU): variables `name/weights` (HWIO), `name/biases`.

    With `batch_norm`, `batch_normalization(y, "BatchNorm", is_training)` acts between
    the bias and the ReLU, its variables under `name/BatchNorm/`.
    """
    in_channels = known_channels(x, name)
    with v1.variable_scope(name):
        weights = v1.get_variable("weights", [ksize, ksize, in_channels, out_channels],
                                  initializer=initializer_of(initializer), trainable=trainable)
        biases = v1.get_variable("biases", [out_channels], initializer=v1.zeros_initializer(),
                                 trainable=trainable)
        if trainable and decay:
            register_decay(weights)
        # A network's first layer casts its float32 input to the weights' compute dtype.
        x = tf.cast(x, weights.dtype)
        y = convolve(x, weights, biases, stride, padding)
        if batch_norm:
            y = batch_normalization(y, "BatchNorm", is_training)
        return tf.nn.relu(y, name="relu") if relu else tf.identity(y, name="output")


def batch_normalization(x, name, is_training, momentum=0.99, epsilon=1e-3):
    """Batch normalisation over N, H, W: variables `name/gamma|beta|moving_mean|moving_variance`.

    While the boolean tensor `is_training` is true the batch's own statistics
    normalise; otherwise the moving averages do. The moving averages follow
    the training batches through ops in the UPDATE_OPS collection (the train
    op must depend on them): average <- average - (1 - momentum) * (average -
    batch statistic), with the batch variance Bessel-corrected as the fused
    kernel reports it, the update of Keras' fused layer. Outside training the
    same ops leave the averages unchanged. Momentum and epsilon default to
    Keras' `BatchNormalization`.
    """
    channels = known_channels(x, name)
    with v1.variable_scope(name):
        gamma = v1.get_variable("gamma", [channels], initializer=v1.ones_initializer())
        beta = v1.get_variable("beta", [channels], initializer=v1.zeros_initializer())
        moving_mean = v1.get_variable("moving_mean", [channels], trainable=False,
                                      initializer=v1.zeros_initializer())
        moving_variance = v1.get_variable("moving_variance", [channels], trainable=False,
                                          initializer=v1.ones_initializer())

        def batch_statistics():
            return v1.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon, is_training=True)

        def moving_statistics():
            y, _, _ = v1.nn.fused_batch_norm(x, gamma, beta, moving_mean, moving_variance,
                                             epsilon=epsilon, is_training=False)
            return y, tf.identity(moving_mean), tf.identity(moving_variance)

        y, mean, variance = tf.cond(is_training, batch_statistics, moving_statistics)
        for average, statistic in ((moving_mean, mean), (moving_variance, variance)):
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign_sub(
                average, (average - statistic) * (1.0 - momentum)))
        return tf.identity(y, name="output")


def max_pool(x, name):
    """2x2 stride-2 max pooling; SAME equals Caffe's ceil rounding (VALID is floor)."""
    return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME", name=name)


def create_random_stream():
    """A saved int64 counter for dropout to draw its masks from (see `dropout`).

    TensorFlow's stateful generators restart with each session, so a run
    resumed from a checkpoint would draw the masks of its first steps again.
    Masks drawn statelessly from (layer, counter), with the counter advanced
    once per training batch and saved with the weights, are the same whether
    or not the run was interrupted.
    """
    return v1.get_variable("random_stream", [], tf.int64, initializer=v1.zeros_initializer(),
                           trainable=False)


def dropout(x, rate, is_training, name, random_stream=None):
    """Element-wise dropout active only when the boolean tensor `is_training` is true.

    Masks come from `random_stream` (a `create_random_stream` counter, which
    whoever runs the training advances once per batch) when one is given,
    else from TensorFlow's stateful generator. They are drawn in float32
    whatever `x`'s dtype, so a network computing in a lower precision drops
    the same units.
    """
    with tf.name_scope(name) as scope:
        if not rate:
            return tf.identity(x)
        if random_stream is not None:
            graph_seed = v1.get_default_graph().seed or 0
            layer_seed = zlib.crc32(scope.encode()) ^ graph_seed
            seed = tf.stack([tf.constant(layer_seed, tf.int64), random_stream.read_value()])

            def drop():
                return tf.cast(tf.nn.experimental.stateless_dropout(
                    tf.cast(x, tf.float32), rate=rate, seed=seed), x.dtype)
        else:
            def drop():
                return tf.cast(tf.nn.dropout(tf.cast(x, tf.float32), rate=rate), x.dtype)
        return tf.cond(is_training, drop, lambda: tf.identity(x))


def conv_transpose(x, name, out_channels, stride, ksize, like=None, initializer="bilinear",
                   biases=False, trainable=True):
    """Transposed convolution with variables `name/weights` (k, k, out, in) (and `name/biases`).

    Without `like` it is VALID (the reference's pad 0): (n-1)*stride + k
    pixels, to be cropped. With `like` it is SAME and takes that tensor's
    batch, height and width (static ones included), as a skip it is added to.
    Trainable ones get weight decay.
    """
    in_channels = known_channels(x, name)
    with v1.variable_scope(name):
        weights = v1.get_variable("weights", [ksize, ksize, out_channels, in_channels],
                                  initializer=initializer_of(initializer), trainable=trainable)
        if trainable:
            register_decay(weights)
        if like is None:
            dims = tf.shape(x)
            shape = [dims[0], (dims[1] - 1) * stride + ksize, (dims[2] - 1) * stride + ksize]
            padding = "VALID"
        else:
            dims = tf.shape(like)
            shape = [dims[0], dims[1], dims[2]]
            padding = "SAME"
        y = tf.nn.conv2d_transpose(x, weights, tf.stack(shape + [out_channels]),
                                   [1, stride, stride, 1], padding)
        if like is not None:
            y.set_shape(like.shape[:3].concatenate([out_channels]))
        if biases:
            y = tf.nn.bias_add(y, v1.get_variable("biases", [out_channels], trainable=trainable,
                                                  initializer=v1.zeros_initializer()))
        return tf.identity(y, name="output")


def upsample(x, name, factor, like=None, trainable=False):
    """Transposed convolution C->C initialised to the bilinear kernel, no bias.

    VALID without `like`, SAME onto `like`'s grid with it (see
    `conv_transpose`). Fixed by default as in the reference.
    """
    return conv_transpose(x, name, known_channels(x, name), factor, kernel_size(factor), like,
                          "bilinear", biases=False, trainable=trainable)


def resize_bilinear(x, factor, name="resize_bilinear"):
    """TF1's `image.resize_bilinear` to (n*f, m*f), align_corners and half_pixel_centers False.

    Output pixel y samples input coordinate y / f, clamped at the last row and
    column: (f - 1) / (2f) of an input cell (f/2 - 1/2 output pixels) before
    `upsample_bilinear`'s (y + 0.5) / f - 0.5, which pads with zeros instead.
    """
    with tf.name_scope(name):
        x = tf.convert_to_tensor(x)
        dims = tf.shape(x)
        # The kernel answers float32 whatever it reads.
        y = tf.cast(tf.raw_ops.ResizeBilinear(images=x, size=tf.stack([dims[1], dims[2]]) * factor,
                                              align_corners=False, half_pixel_centers=False),
                    x.dtype)
        n, h, w, c = x.shape.as_list()
        y.set_shape([n, h * factor if h else None, w * factor if w else None, c])
        return tf.identity(y, name="output")


def crop(x, offset, like, name=None):
    """Crop `x` spatially at (offset, offset) to the height and width of `like` (Caffe's Crop)."""
    with tf.name_scope(name or "crop"):
        target = tf.shape(like)
        y = tf.slice(x, [0, offset, offset, 0], tf.stack([-1, target[1], target[2], -1]))
        y.set_shape([x.shape[0], like.shape[1], like.shape[2], x.shape[3]])
        return y
