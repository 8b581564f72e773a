"""The bilinear kernel and its transposed convolution against scikit-image.

The comparisons go through `fcn_graph.testing`, the checks anyone can run on
their own kernels: here they prove ours.
"""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import bilinear_kernel, upsample_bilinear
from fcn_graph.testing import (assert_bilinear_kernel, assert_upsampler, check_upsampler,
                               reference_upsample)
from fcn_graph.testing.reference import border_band, border_mask
from fcn_graph.upsampling import bilinear_initializer, bilinear_filter_2d

FACTORS = [2, 3, 4, 5, 6, 7, 8, 9, 16, 32]
ODD_AND_EVEN_SIZES = ((7, 5), (6, 4), (9, 11))


def run(tensor_fn):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        return sess.run(tensor_fn())


def upsample_in_graph(images, factor):
    """(N, H, W, C) numpy -> numpy, through a graph and a session as the networks use it."""
    return run(lambda: upsample_bilinear(images, factor))


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
    diagonal = kernel[:, :, range(channels), range(channels)]
    expected = np.repeat(bilinear_filter_2d(k)[..., None], channels, axis=-1)
    np.testing.assert_array_equal(diagonal, expected)
    # As a transposed convolution it is scikit-image's rescale, and no class feeds another.
    check = assert_bilinear_kernel(kernel, factor).at(factor)
    assert check.kernel.off_diagonal == 0 and check.max_diff <= 1e-5


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


def test_equals_skimage_rescale_everywhere_including_borders():
    report = assert_upsampler(upsample_in_graph, factors=[1] + FACTORS, sizes=ODD_AND_EVEN_SIZES)
    for check in report.checks:
        f = check.factor
        assert check.output_sizes == tuple((h * f, w * f) for h, w in ODD_AND_EVEN_SIZES)
        assert check.max_diff <= 1e-5


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 8])
def test_edge_mode_differs_only_in_the_outer_band(factor):
    check = check_upsampler(upsample_in_graph, factors=[factor], sizes=[(9, 11)],
                            mode="edge").at(factor)
    assert check.interior_diff <= 1e-5 and check.cause_names == ("border-mode",)
    # Zero padding darkens every pixel of the outer floor(f / 2) band, never the inside.
    image = np.random.RandomState(100 + factor).rand(1, 9, 11, 2).astype(np.float32) + 1.0
    diff = np.abs(upsample_in_graph(image, factor) - reference_upsample(image, factor, "edge"))
    outer = border_mask(9 * factor, 11 * factor, border_band(factor))
    assert (diff.max(axis=(0, 3))[outer] > 1e-3).all()


def test_non_square_batch_and_static_shape():
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        x = tf.compat.v1.placeholder(tf.float32, [2, 3, 4, 6])
        y = upsample_bilinear(x, 4)
        assert y.shape.as_list() == [2, 12, 16, 6]
        value = np.random.rand(2, 3, 4, 6).astype(np.float32)
        out = sess.run(y, {x: value})
    np.testing.assert_allclose(out, reference_upsample(value, 4), atol=1e-5, rtol=0)
