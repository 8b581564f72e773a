"""Floating-point operations of a network, counted analytically from its layer shapes.

Only convolutions and transposed convolutions are counted (everything else
in an FCN is a negligible fraction), one multiply-add as 2 FLOPs. A
training step is taken as 3x the forward pass: the backward pass computes
a gradient for the inputs and one for the weights, each costing a forward.
"""
import numpy as np

TRAINING_FACTOR = 3


def conv_flops(op):
    """FLOPs of a Conv2D (output-sized) or Conv2DBackpropInput (input-sized) op; static shapes."""
    if op.type == "Conv2D":
        kernel = op.inputs[1].shape
        positions = op.outputs[0].shape[:3]
    elif op.type == "Conv2DBackpropInput":
        kernel = op.inputs[1].shape
        positions = op.inputs[2].shape[:3]
    else:
        return 0
    if not (kernel.is_fully_defined() and positions.is_fully_defined()):
        raise ValueError(f"{op.name}: shapes must be static to count FLOPs, got kernel {kernel} "
                         f"over {positions}; build the network on a fixed-size input")
    # kernel is (kh, kw, in, out) for Conv2D and (kh, kw, out, in) for its transpose:
    # either way every position costs kh * kw * in * out multiply-adds.
    return 2 * int(np.prod(positions.as_list())) * int(np.prod(kernel.as_list()))


def forward_flops(operations):
    """FLOPs of one forward pass over the given graph operations."""
    return sum(conv_flops(op) for op in operations)
