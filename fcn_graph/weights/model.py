"""Pretrained weights in one canonical form, whatever file they came from.

Every loader hands its arrays to `assemble`, which turns them into a
`Weights`: layer name -> (kernel HWIO float32, bias float32 or None), the
backbone depth, and the input convention the weights were trained with.
Fully connected layers become convolutions here (fc6 7x7, fc7 and fc8
1x1), so a graph variable and its pretrained value always share a shape.
"""
import logging
import re
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

from fcn_graph import vgg

log = logging.getLogger(__name__)

ARCHS = ("vgg16", "vgg19")
# Layers of the FCN heads that a released FCN model carries besides the backbone.
HEAD_LAYER = re.compile(r"^(score_fr|score_pool\d|upscore\w*)$")
# fc6 sees a 7x7 window of pool5; the other classifier layers see one cell.
FC_WINDOW = {"fc6": 7, "fc7": 1, "fc8": 1}


class WeightsError(ValueError):
    """A weight file that cannot be used as asked; the message names the file and the layer."""


@dataclass
class Weights:
    """Pretrained parameters and the input convention they expect."""
    arch: str
    layers: Dict[str, Tuple[np.ndarray, Optional[np.ndarray]]]
    channel_order: str
    mean: Tuple[float, float, float]
    source: str
    path: str = ""
    # Parametrised layers of the file that are no part of an FCN (e.g. a Caffe Scale layer).
    ignored: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def num_parameters(self):
        return sum(k.size + (0 if b is None else b.size) for k, b in self.layers.values())

    def backbone_layers(self):
        """Names of this file's layers among the backbone's, in network order."""
        return [name for name in vgg.layer_names(self.arch) if name in self.layers]

    def missing_backbone_layers(self):
        return [name for name in vgg.layer_names(self.arch) if name not in self.layers]

    def head_layers(self):
        return [name for name in self.layers if HEAD_LAYER.match(name)]

    def mismatches(self, other):
        """Names of layers that are not bit-identical in `other` (or absent from either)."""
        names = sorted(set(self.layers) | set(other.layers))
        return [name for name in names
                if name not in self.layers or name not in other.layers
                or not all(same_array(a, b) for a, b in zip(self.layers[name],
                                                             other.layers[name]))]


def same_array(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.array_equal(a, b)


def is_network_layer(name):
    return name in vgg.layer_names("vgg19") or name == "fc8" or bool(HEAD_LAYER.match(name))


def infer_arch(names):
    """vgg19 has a fourth convolution in blocks 3-5; vgg16 stops at the third."""
    if any(re.fullmatch(r"conv[345]_4", name) for name in names):
        return "vgg19"
    if any(re.fullmatch(r"conv\d_\d", name) for name in names):
        return "vgg16"
    return None


def fc_to_conv(path, name, kernel):
    """A 2-D (in, out) fully connected matrix whose input was flattened in H, W, C order -> HWIO."""
    window = FC_WINDOW.get(name, 1)
    rows, cols = kernel.shape
    if rows % (window * window):
        raise WeightsError(f"{path}: layer {name} has a {kernel.shape} matrix; its {rows} inputs "
                           f"are not a {window}x{window} window of feature maps")
    return kernel.reshape(window, window, rows // (window * window), cols)


def as_array(path, name, what, value):
    """C-ordered float32 array (copied only when needed); anything non-numeric is refused."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise WeightsError(f"{path}: layer {name} {what} is {array.dtype}, not a numeric array")
    return np.ascontiguousarray(array, dtype=np.float32)


def check_chain(path, layers, arch):
    """Each backbone kernel must take as many channels as the previous one gives."""
    channels, previous = 3, "the RGB input"
    for name in vgg.layer_names(arch) + ["fc8"]:
        if name not in layers:
            channels = None
            continue
        kernel, bias = layers[name]
        if channels is not None and kernel.shape[2] != channels:
            raise WeightsError(f"{path}: layer {name} expects {kernel.shape[2]} input channels "
                               f"but {previous} gives {channels}; the file is not a {arch}")
        if bias is not None and bias.shape != (kernel.shape[3],):
            raise WeightsError(f"{path}: layer {name} has {bias.shape[0]} biases for "
                               f"{kernel.shape[3]} output channels")
        channels, previous = kernel.shape[3], name


def assemble(path, source, layers, channel_order, mean, arch=None, ignored=()):
    """Validate loader output into a `Weights`.

    `layers` maps canonical names to (kernel, bias); kernels are HWIO, or
    2-D (in, out) for fully connected layers with H, W, C-ordered inputs.
    `arch`, when given, must be the depth the file holds.
    """
    path = str(path)
    canonical = {}
    for name, (kernel, bias) in layers.items():
        kernel = as_array(path, name, "kernel", kernel)
        if kernel.ndim == 2 and name in FC_WINDOW:
            kernel = fc_to_conv(path, name, kernel)
        if kernel.ndim != 4:
            raise WeightsError(f"{path}: layer {name} kernel has shape {kernel.shape}; "
                               f"expected 4-D (height, width, in, out)")
        if bias is not None:
            bias = as_array(path, name, "bias", bias).reshape(-1)
        canonical[name] = (kernel, bias)
    found = infer_arch(canonical)
    if found is None:
        raise WeightsError(f"{path}: no VGG convolution layers (conv1_1 ...) found in this "
                           f"{source} file")
    if arch is not None and arch != found:
        if arch not in ARCHS:
            raise WeightsError(f"unknown backbone {arch!r}; choose one of {ARCHS}")
        deepest = "conv5_4" if found == "vgg19" else "conv5_3"
        raise WeightsError(f"{path}: holds {found} weights (last convolution {deepest}) but "
                           f"{arch} was asked for; use a {arch} file or build the network with "
                           f"backbone='{found}'")
    check_chain(path, canonical, found)
    if ignored:
        log.info("%s: not network layers, ignored: %s", path, ", ".join(ignored))
    return Weights(arch=found, layers=canonical, channel_order=channel_order,
                   mean=tuple(float(m) for m in mean), source=source, path=path,
                   ignored=tuple(ignored))
