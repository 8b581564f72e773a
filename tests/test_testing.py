"""fcn_graph.testing: correct kernels and upsamplers pass, each known bug is named where it shows.

Every kernel and upsampler below is written out here, independently of the
references the checks compare with.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fcn_graph.errors import FcnGraphError
from fcn_graph.testing import (KernelShapeError, UserFunctionError, assert_bilinear_kernel,
                               assert_upsampler, check_bilinear_kernel, check_kernel_function,
                               check_upsampler)
from planted_kernels import (filter_taps, diagonal_kernel, right_kernel, factor_parity_kernel,
                             kernel_2f_factor_parity, mixing_kernel,
                             correct_upsampler, edge_upsampler,
                             legacy_upsampler,
                             align_corners_upsampler,
                             conv_transpose_valid,
                             conv_transpose_cropped_at)

ALL_FACTORS = range(1, 33)
ODD_AND_EVEN_SIZES = ((5, 7), (6, 4))


def causes_by_factor(report):
    return {check.factor: check.cause_names for check in report.checks}


def test_numpy_parts_import_without_tensorflow():
    script = textwrap.dedent("""
        import sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError("tensorflow is blocked in this test")
        sys.meta_path.insert(0, NoTensorFlow())
        from fcn_graph.testing import check_bilinear_kernel
        from fcn_graph.upsampling import bilinear_kernel
        assert check_bilinear_kernel(bilinear_kernel(3, 2), 3).passed
        assert "tensorflow" not in sys.modules
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_right_kernel_passes_every_factor_on_odd_and_even_sizes():
    report = check_kernel_function(right_kernel, factors=ALL_FACTORS, sizes=ODD_AND_EVEN_SIZES)
    assert report.passed, str(report)
    assert [c.factor for c in report.checks] == list(ALL_FACTORS)
    assert all(c.kernel.size == 2 * c.factor - c.factor % 2 for c in report.checks)
    assert report.at(7).output_sizes == ((35, 49), (42, 28))


@pytest.mark.parametrize("upsampler", [correct_upsampler, conv_transpose_cropped_at(lambda f: 0)])
def test_right_upsamplers_pass_every_factor_on_odd_and_even_sizes(upsampler):
    report = assert_upsampler(upsampler, factors=ALL_FACTORS, sizes=ODD_AND_EVEN_SIZES)
    assert report.at(32).output_sizes == ((160, 224), (192, 128))
    assert report.at(1).border_diff is None  # a factor of 1 has no border band


@pytest.mark.parametrize("size, shows", [(3, True), (4, False), (5, False), (6, True),
                                         (7, True), (8, False), (9, False), (10, True)])
def test_factor_parity_centre_is_named_at_the_sizes_where_it_differs(size, shows):
    factor = (size + 1) // 2
    report = check_bilinear_kernel(factor_parity_kernel(size, 2), factor)
    right_size = size == 2 * factor - factor % 2
    assert report.passed == (right_size and not shows)
    if shows:
        assert report.at(factor).cause_names == ("factor-parity-centre",)
        assert f"k = {size}" in str(report)


def test_factor_parity_centre_with_k_2f_fails_at_odd_factors_only():
    report = check_kernel_function(kernel_2f_factor_parity, factors=range(2, 10))
    assert causes_by_factor(report) == {
        f: ("factor-parity-centre",) if f % 2 else () for f in range(2, 10)}
    assert [c.factor for c in report.failures] == [3, 5, 7, 9]
    assert report.at(3).kernel.size == 6 and report.at(3).kernel.expected_size == 5


@pytest.mark.parametrize("size", [3, 6, 7, 10])
def test_right_filter_of_the_wrong_size_is_named_kernel_size(size):
    factor = (size + 1) // 2
    kernel = diagonal_kernel(filter_taps(size, (size - 1) / 2), 3)
    assert check_bilinear_kernel(kernel, factor).at(factor).cause_names == ("kernel-size",)


def test_off_diagonal_kernel_is_named_at_every_factor():
    report = check_kernel_function(mixing_kernel, factors=[1, 2, 3, 8], channels=3)
    assert causes_by_factor(report) == {f: ("off-diagonal",) for f in [1, 2, 3, 8]}
    assert report.at(2).kernel.off_diagonal == pytest.approx(0.1 * 9 / 16, rel=1e-6)
    assert "input channel 0 feeds output channel 1" in str(report)


def test_one_channel_kernel_cannot_mix_and_passes():
    assert check_bilinear_kernel(right_kernel(4, 1), 4).passed


def test_layouts():
    oihw = right_kernel(3, 4).transpose(3, 2, 0, 1)
    assert check_bilinear_kernel(oihw, 3, layout="oihw").passed
    assert check_bilinear_kernel(oihw, 3).at(3).cause_names == ("kernel-layout",)


@pytest.mark.parametrize("upsampler, cause", [
    (legacy_upsampler, "corner-aligned-sampling"),
    (align_corners_upsampler, "align-corners"),
    (edge_upsampler, "border-mode"),
    (conv_transpose_valid, "transposed-conv-crop"),
    (conv_transpose_cropped_at(lambda f: f // 2), "transposed-conv-crop"),
    (conv_transpose_cropped_at(lambda f: -(f // 2)), "transposed-conv-crop"),
])
def test_upsampler_bug_is_named_from_factor_2_and_absent_at_1(upsampler, cause):
    report = check_upsampler(upsampler, factors=[1, 2, 3, 4, 7, 8])
    assert report.at(1).passed
    assert {f: names for f, names in causes_by_factor(report).items() if f > 1} == {
        f: (cause,) for f in [2, 3, 4, 7, 8]}


def test_corner_aligned_shift_is_stated_in_output_pixels():
    text = str(check_upsampler(legacy_upsampler, factors=[4, 7]))
    assert "(f - 1) / 2 = 1.5 output pixels up and left" in text
    assert "(f - 1) / 2 = 3 output pixels up and left" in text


def test_uncropped_transposed_conv_reports_its_size_and_the_crop():
    check = check_upsampler(conv_transpose_valid, factors=[4], sizes=[(5, 7)]).at(4)
    assert check.output_sizes == ((24, 32),) and check.max_diff is None
    assert "crop (k - f) // 2 = 2 pixels at the top and left" in str(check.causes[0])


def test_border_mode_differs_only_in_the_band_and_passes_when_asked_for():
    check = check_upsampler(edge_upsampler, factors=[5]).at(5)
    assert check.interior_diff <= 1e-5 < 0.1 < check.border_diff
    assert "mode='edge'" in check.causes[0].text
    assert check_upsampler(edge_upsampler, mode="edge").passed
    assert check_upsampler(correct_upsampler, factors=[3], mode="edge").at(3).cause_names == (
        "border-mode",)


def test_unexplained_difference_is_not_given_a_cause():
    report = check_upsampler(lambda x, f: correct_upsampler(x, f) * 1.01, factors=[2])
    assert not report.passed and report.at(2).causes == ()
    assert "factor 2: no known bug fits the numbers exactly" in str(report)


def test_assert_twins_raise_with_the_report_and_return_it_on_success():
    with pytest.raises(AssertionError) as raised:
        assert_upsampler(legacy_upsampler, factors=[2, 3])
    message = str(raised.value)
    assert "| factor |" in message and "factor 3: corner-aligned-sampling" in message
    assert "FAILED at factor 2, 3 of 2, 3" in message
    with pytest.raises(AssertionError, match="factor-parity-centre"):
        assert_bilinear_kernel(factor_parity_kernel(6, 2), 3)
    assert assert_bilinear_kernel(right_kernel(3, 2), 3).passed


def test_tensorflow_tensors_are_accepted():
    tf = pytest.importorskip("tensorflow")
    assert check_upsampler(lambda x, f: tf.constant(correct_upsampler(x, f)), factors=[2]).passed
    assert check_bilinear_kernel(tf.constant(right_kernel(2, 3)), 2).passed


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    # requires_grad: the check must detach before reading the values
    upsampled = check_upsampler(
        lambda x, f: torch.from_numpy(correct_upsampler(x, f)).requires_grad_(), factors=[2])
    assert upsampled.passed
    assert check_bilinear_kernel(torch.from_numpy(right_kernel(2, 3)), 2).passed


@pytest.mark.parametrize("kernel, words", [
    (np.zeros((4, 3, 2, 2)), "non-square: 4x3 taps"),
    (np.zeros((4, 4, 2)), "4-D"),
    (np.zeros((4, 4, 2, 3)), "maps 2 channels to 3"),
])
def test_bad_kernel_shape_is_one_line_error(kernel, words):
    with pytest.raises(KernelShapeError) as raised:
        check_bilinear_kernel(kernel, 2)
    assert words in str(raised.value) and "\n" not in str(raised.value)
    assert isinstance(raised.value, FcnGraphError)


def one_argument(images):
    return images


def raises(images, factor):
    raise RuntimeError("no GPU here\nsecond line")


@pytest.mark.parametrize("upsampler, words", [
    (one_argument, "one_argument(images) cannot be called as one_argument(images of shape"),
    (raises, "raised RuntimeError: no GPU here"),
    (lambda x, f: x[0], "returned shape (5, 7, 3); an upsampler returns NHWC (2, 10, 14, 3)"),
    (lambda x, f: np.repeat(x, 2, axis=-1), "returned shape (2, 5, 7, 6)"),
    (lambda x, f: "not an array", "not an array"),
])
def test_unusable_upsampler_is_one_line_error(upsampler, words):
    with pytest.raises(UserFunctionError) as raised:
        check_upsampler(upsampler, factors=[2])
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_kernel_function_with_wrong_channels_is_an_error():
    with pytest.raises(KernelShapeError, match=r"returned a kernel for 1 channels"):
        check_kernel_function(lambda f, c: right_kernel(f, 1), factors=[2], channels=3)
