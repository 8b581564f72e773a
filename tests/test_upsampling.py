"""The bilinear kernel and its transposed convolution against scikit-image."""
import numpy as np
import pytest
import tensorflow as tf
from skimage.transform import rescale

from fcn_graph import bilinear_kernel, upsample_bilinear
from fcn_graph.upsampling import bilinear_initializer, bilinear_filter_2d

FACTORS = [2, 3, 4, 5, 6, 7, 8, 9, 16, 32]


def run(tensor_fn):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        return sess.run(tensor_fn())


def upsample_np(image, factor):
    return run(lambda: upsample_bilinear(image[None].astype(np.float32), factor))[0]


def skimage_bilinear(image, factor, mode="constant"):
    return rescale(image, factor, order=1, mode=mode, cval=0, anti_aliasing=False, clip=False,
                   channel_axis=-1)


def test_kernel_size_4_matches_reference():
    expected = np.array([[1, 3, 3, 1], [3, 9, 9, 3], [3, 9, 9, 3], [1, 3, 3, 1]]) / 16.0
    kernel = bilinear_kernel(2, 1)
    assert kernel.shape == (4, 4, 1, 1) and kernel.dtype == np.float32
    np.testing.assert_allclose(kernel[:, :, 0, 0], expected, atol=1e-7)


def test_kernel_size_16_first_row_matches_reference():
    expected = np.array([1, 3, 5, 7, 9, 11, 13, 15, 15, 13, 11, 9, 7, 5, 3, 1]) / 256.0
    np.testing.assert_allclose(bilinear_kernel(8, 1)[0, :, 0, 0], expected, atol=1e-7)


@pytest.mark.parametrize("factor", FACTORS)
def test_kernel_size_and_diagonal_only(factor):
    channels = 4
    kernel = bilinear_kernel(factor, channels)
    k = 2 * factor - factor % 2
    assert kernel.shape == (k, k, channels, channels)
    for i in range(channels):
        for j in range(channels):
            if i == j:
                np.testing.assert_array_equal(kernel[:, :, i, j], bilinear_filter_2d(k))
            else:
                assert not kernel[:, :, i, j].any()


@pytest.mark.parametrize("size", [3, 6, 7, 10])
def test_odd_and_non_power_sizes_are_symmetric_and_peak_in_the_middle(size):
    # The factor-parity variant of the formula breaks exactly these sizes.
    filt = bilinear_filter_2d(size)
    np.testing.assert_allclose(filt, filt[::-1, ::-1], atol=1e-7)
    np.testing.assert_allclose(filt, filt.T, atol=1e-7)
    assert filt.max() == filt[(size - 1) // 2, (size - 1) // 2]


def test_kernel_rejects_bad_factor():
    with pytest.raises(ValueError):
        bilinear_kernel(0, 3)
    with pytest.raises(ValueError):
        bilinear_kernel(2.5, 3)


def test_in_graph_initializer_equals_numpy_kernel():
    value = run(lambda: bilinear_initializer([16, 16, 5, 5]))
    np.testing.assert_array_equal(value, bilinear_kernel(8, 5))


@pytest.mark.parametrize("factor", FACTORS)
def test_equals_skimage_rescale_everywhere_including_borders(factor):
    rng = np.random.RandomState(factor)
    image = rng.rand(7, 5, 3).astype(np.float32)  # odd sizes on purpose
    ours = upsample_np(image, factor)
    theirs = skimage_bilinear(image.astype(np.float64), factor)
    assert ours.shape == theirs.shape == (7 * factor, 5 * factor, 3)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 8])
def test_edge_mode_differs_only_in_the_outer_band(factor):
    rng = np.random.RandomState(100 + factor)
    image = rng.rand(9, 11, 2).astype(np.float32) + 1.0  # keep away from 0 so zero padding shows
    ours = upsample_np(image, factor)
    edge = skimage_bilinear(image.astype(np.float64), factor, mode="edge")
    band = factor // 2
    inner = (slice(band, -band), slice(band, -band))
    np.testing.assert_allclose(ours[inner], edge[inner], atol=1e-5, rtol=0)
    # Zero padding darkens every pixel of the outer band, never the inside.
    diff = np.abs(ours - edge).max(axis=-1)
    outer = np.ones(diff.shape, bool)
    outer[inner] = False
    assert (diff[outer] > 1e-3).all()


def test_non_square_batch_and_static_shape():
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        x = tf.compat.v1.placeholder(tf.float32, [2, 3, 4, 6])
        y = upsample_bilinear(x, 4)
        assert y.shape.as_list() == [2, 12, 16, 6]
        value = np.random.rand(2, 3, 4, 6).astype(np.float32)
        out = sess.run(y, {x: value})
    for b in range(2):
        np.testing.assert_allclose(out[b], skimage_bilinear(value[b].astype(np.float64), 4),
                                   atol=1e-5)
