"""Unit-test anyone's bilinear upsampling kernel or upsampler against the FCN references.

    from fcn_graph.testing import assert_bilinear_kernel, assert_upsampler

    def test_my_kernel():
        assert_bilinear_kernel(my_kernel(8, 21), 8)           # (k, k, C, C); layout="oihw" too

    def test_my_upsampler():
        assert_upsampler(my_upsample, factors=range(1, 33))   # fn(NHWC float32, f) -> NHWC

The references, which agree with each other everywhere, borders included:

- the FCN kernel, `fcn_graph.upsampling.bilinear_kernel(f, C)`: size
  k = 2f - f % 2, filter 1 - |i - c| / ((k + 1) // 2) along each axis with
  centre c = (k - 1) / 2 (taken from the parity of k, not of the factor),
  on the diagonal only: channel i never feeds channel j != i;
- scikit-image's `rescale(image, f, order=1, mode=mode, cval=0,
  anti_aliasing=False, clip=False, channel_axis=-1)`: output pixel y
  samples input coordinate (y + 0.5) / f - 0.5; with `mode='constant'`
  samples outside the image blend with zeros, which is what the kernel's
  transposed convolution (stride f, TensorFlow SAME crop of (k - f) // 2)
  does.

Each check returns a `CheckReport`: per factor the output size, the largest
difference overall, in the outer floor(f / 2) border band and in the
interior, and the cause when one of the known bugs reproduces the numbers
exactly (see `Cause` for their names). Its `assert_` twin raises
AssertionError with the printed report. Inputs are a batch of two images
per size with values in [0.5, 1.5), so that zero padding shows.

Nothing here needs TensorFlow; results may be numpy arrays, TensorFlow
eager tensors or PyTorch tensors.
"""
from fcn_graph.testing.checks import (DEFAULT_CHANNELS, DEFAULT_FACTORS, DEFAULT_SIZES, TOLERANCE,
                                      KernelShapeError, UserFunctionError, assert_bilinear_kernel,
                                      assert_kernel_function, assert_upsampler,
                                      check_bilinear_kernel, check_kernel_function,
                                      check_upsampler)
from fcn_graph.testing.reference import reference_upsample, transposed_conv_same
from fcn_graph.testing.report import Cause, CheckReport, FactorCheck, KernelFacts

__all__ = [
    "Cause", "CheckReport", "DEFAULT_CHANNELS", "DEFAULT_FACTORS", "DEFAULT_SIZES", "FactorCheck",
    "KernelFacts", "KernelShapeError", "TOLERANCE", "UserFunctionError", "assert_bilinear_kernel",
    "assert_kernel_function", "assert_upsampler", "check_bilinear_kernel",
    "check_kernel_function", "check_upsampler", "reference_upsample", "transposed_conv_same",
]
