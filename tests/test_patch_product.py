"""fc6's 7x7 and the 1x1 convolutions run as one product of the patch matrix and the kernel:
the same values and gradients as `tf.nn.conv2d`, on static and dynamic shapes."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import layers

v1 = tf.compat.v1


@pytest.mark.parametrize("ksize", [1, 7])
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
@pytest.mark.parametrize("static", [True, False])
def test_patch_product_equals_the_convolution(ksize, padding, static):
    rng = np.random.default_rng(0)
    x_value = rng.normal(size=(2, 11, 9, 5)).astype(np.float32)
    w_value = rng.normal(size=(ksize, ksize, 5, 6)).astype(np.float32)
    b_value = rng.normal(size=6).astype(np.float32)
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, x_value.shape if static else [None, None, None, 5])
        w, b = tf.constant(w_value), tf.constant(b_value)
        product = layers.convolve(x, w, b, 1, padding)
        reference = tf.nn.bias_add(tf.nn.conv2d(x, w, 1, padding), b)
        assert any(op.type == "MatMul" for op in x.graph.get_operations())
        assert product.shape.as_list() == reference.shape.as_list()
        gradients = [tf.gradients(tf.reduce_sum(tf.square(y)), [x, w]) for y in
                     (product, reference)]
        with v1.Session() as session:
            ours, theirs, our_grads, their_grads = session.run(
                [product, reference, *gradients], {x: x_value})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    for mine, expected in zip(our_grads, their_grads):
        np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=1e-3)


def test_small_and_strided_kernels_stay_convolutions():
    with tf.Graph().as_default() as graph:
        x = tf.zeros([1, 16, 16, 4])
        layers.convolve(x, tf.zeros([3, 3, 4, 4]), tf.zeros([4]), 1, "SAME")
        layers.convolve(x, tf.zeros([7, 7, 4, 4]), tf.zeros([4]), 2, "SAME")
        assert {op.type for op in graph.get_operations()} >= {"Conv2D"}
        assert not any(op.type == "MatMul" for op in graph.get_operations())
