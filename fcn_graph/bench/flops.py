"""Floating-point operations of a network, counted analytically from its layer shapes.

Only convolutions, transposed convolutions and matrix products (fc6 runs as
one, see `layers.convolve`) are counted: everything else in an FCN is a
negligible fraction. One multiply-add is 2 FLOPs. A training step is taken
as 3x the forward pass: the backward pass computes a gradient for the
inputs and one for the weights, each costing a forward.
"""
import numpy as np

TRAINING_FACTOR = 3


def static(shape, op):
    if not shape.is_fully_defined():
        raise ValueError(f"{op.name}: shapes must be static to count FLOPs, got {shape}; build "
                         f"the network on a fixed-size input")
    return shape.as_list()


def conv_flops(op):
    """FLOPs of a Conv2D (output-sized), Conv2DBackpropInput (input-sized) or MatMul op."""
    if op.type == "MatMul":
        rows, inner = static(op.inputs[0].shape, op)
        if op.get_attr("transpose_a"):
            rows, inner = inner, rows
        columns = static(op.outputs[0].shape, op)[1]
        return 2 * rows * inner * columns
    if op.type == "Conv2D":
        positions = op.outputs[0].shape[:3]
    elif op.type == "Conv2DBackpropInput":
        positions = op.inputs[2].shape[:3]
    else:
        return 0
    # kernel is (kh, kw, in, out) for Conv2D and (kh, kw, out, in) for its transpose:
    # either way every position costs kh * kw * in * out multiply-adds.
    kernel = static(op.inputs[1].shape, op)
    return 2 * int(np.prod(static(positions, op))) * int(np.prod(kernel))


def forward_flops(operations):
    """FLOPs of one forward pass over the given graph operations."""
    return sum(conv_flops(op) for op in operations)
