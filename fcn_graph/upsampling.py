"""Bilinear upsampling as a transposed convolution.

The FCN reference initialises every "up" layer with the kernel below and
keeps it fixed. With SAME padding and an output of exactly n*f pixels, the
transposed convolution samples input coordinate (y + 0.5) / f - 0.5 for
output pixel y, with taps outside the image contributing zero: the same
result as scikit-image's `rescale(order=1, mode='constant', cval=0)`.

The kernel formula is numpy only, so `fcn_graph.testing` can check other
people's kernels where TensorFlow is not installed.
"""
import numpy as np

try:
    import tensorflow as tf
except ImportError:  # only the transposed convolution and its initializer need it
    tf = None


def kernel_size(factor):
    """Side of the bilinear kernel for an integer upsampling factor."""
    if int(factor) != factor or factor < 1:
        raise ValueError(f"upsampling factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    return 2 * factor - factor % 2


def bilinear_filter_2d(size):
    """The (size, size) bilinear interpolation filter of the FCN reference.

    The centre is taken from the parity of the kernel size, not of the
    factor: the factor-parity variant seen in some ports is wrong for
    sizes such as 3, 6, 7 and 10.
    """
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1.0 - np.abs(np.arange(size) - center) / factor
    return np.outer(taps, taps).astype(np.float32)


def bilinear_kernel(factor, channels):
    """Float32 (k, k, channels, channels) kernel: the bilinear filter on the diagonal.

    Channel c upsamples into channel c only; every off-diagonal slice is zero,
    so classes never mix.
    """
    size = kernel_size(factor)
    kernel = np.zeros((size, size, channels, channels), dtype=np.float32)
    kernel[:, :, np.arange(channels), np.arange(channels)] = bilinear_filter_2d(size)[..., None]
    return kernel


def bilinear_initializer(shape, dtype="float32", partition_info=None):
    """Initializer for a (k, k, C, C) transposed-conv variable.

    Builds the diagonal from a k x k constant and an identity so the
    GraphDef holds k*k floats rather than k*k*C*C.
    """
    del partition_info  # part of the tf.compat.v1 initializer signature
    size, _, channels, channels_out = shape
    if size != shape[1] or channels != channels_out:
        raise ValueError(f"bilinear kernels are square and C->C, got shape {shape}")
    taps = tf.constant(bilinear_filter_2d(size), dtype=dtype)
    return taps[:, :, None, None] * tf.eye(channels, dtype=dtype)[None, None]


def upsample_bilinear(x, factor, name="upsample_bilinear"):
    """Upsample a 4-D NHWC tensor to (n*f, m*f) with a fixed bilinear transposed conv.

    Channels are folded into the batch so a single (k, k, 1, 1) kernel serves
    them all: the result equals the diagonal (k, k, C, C) kernel's.
    """
    factor = int(factor)
    kernel_size(factor)  # validates the factor
    with tf.name_scope(name):
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_floating:
            x = tf.cast(x, tf.float32)
        if x.shape.rank != 4:
            raise ValueError(f"upsample_bilinear expects an NHWC tensor, got shape {x.shape}")
        dims = tf.shape(x)
        batch, height, width, channels = dims[0], dims[1], dims[2], dims[3]
        planes = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [batch * channels, height, width, 1])
        # In the input's dtype, so a network computing in 16 bits upsamples in 16 bits.
        kernel = tf.constant(bilinear_kernel(factor, 1), dtype=x.dtype)
        up = tf.nn.conv2d_transpose(
            planes, kernel,
            output_shape=tf.stack([batch * channels, height * factor, width * factor, 1]),
            strides=[1, factor, factor, 1], padding="SAME")
        up = tf.reshape(up, tf.stack([batch, channels, height * factor, width * factor]))
        up = tf.transpose(up, [0, 2, 3, 1])
        n, h, w, c = x.shape.as_list()
        up.set_shape([n, h * factor if h else None, w * factor if w else None, c])
        return up
