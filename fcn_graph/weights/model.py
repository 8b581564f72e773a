"""Pretrained weights in one canonical form, whatever file they came from.

Every loader hands its arrays to `assemble`, which turns them into a
`Weights`: layer name -> (kernel HWIO float32, bias float32 or None), the
backbone depth, and the input convention the weights were trained with.
Fully connected layers become convolutions here (fc6 7x7, fc7 and fc8
1x1), so a graph variable and its pretrained value always share a shape.

Only the architecture table is needed, not TensorFlow: the loaders of
numpy, h5 and .mat files work where TensorFlow is not installed.
"""
import dataclasses
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

from fcn_graph import architecture
from fcn_graph.errors import SettingsError, WeightsError

log = logging.getLogger(__name__)

ARCHS = ("vgg16", "vgg19")
# Layers of the FCN heads that a released FCN model carries besides the backbone.
HEAD_LAYER = re.compile(r"^(score_fr|score_pool\d|upscore\w*)$")
# fc6 sees a 7x7 window of pool5; the other classifier layers see one cell.
FC_WINDOW = {"fc6": architecture.FC6_SIZE, "fc7": 1, "fc8": 1}
CHANNEL_ORDERS = ("RGB", "BGR")
CONVENTION_OPTIONS = ("channel_order='RGB' or 'BGR' (--channel-order RGB|BGR)",
                      "mean=(R, G, B) (--mean R,G,B)")


@dataclass
class Weights:
    """Pretrained parameters and the input convention they expect.

    `mean` is listed in `channel_order` (B, G, R for BGR weights), as the
    graph subtracts it after reordering the channels. Both are None only
    between a loader of a file that does not record them and
    `with_convention`.
    """
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
        return [name for name in architecture.layer_names(self.arch) if name in self.layers]

    def missing_backbone_layers(self):
        return [name for name in architecture.layer_names(self.arch) if name not in self.layers]

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
    return (name in architecture.layer_names("vgg19") or name == "fc8"
            or bool(HEAD_LAYER.match(name)))


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
    for name in architecture.layer_names(arch) + ["fc8"]:
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
    `arch`, when given, must be the depth the file holds. `channel_order`
    and `mean` are None for files that do not record them; `with_convention`
    must then supply both.
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
                           f"{arch} was asked for; use a {arch} file or choose the {found} "
                           f"backbone (--backbone {found}; backbone='{found}' in Python)")
    check_chain(path, canonical, found)
    if ignored:
        log.info("%s: not network layers, ignored: %s", path, ", ".join(ignored))
    return Weights(arch=found, layers=canonical, channel_order=channel_order,
                   mean=None if mean is None else tuple(float(m) for m in mean), source=source,
                   path=path, ignored=tuple(ignored))


def in_channel_order(values, channel_order):
    """Per-channel values listed R, G, B, reordered as `channel_order` lists channels.

    Reversing is its own inverse, so this also turns values listed in
    `channel_order` back into R, G, B.
    """
    return tuple(values) if channel_order == "RGB" else tuple(reversed(tuple(values)))


def checked_channel_order(channel_order):
    order = str(channel_order).upper()
    if order not in CHANNEL_ORDERS:
        raise SettingsError(f"channel order {channel_order!r}: choose RGB or BGR "
                            f"(--channel-order)")
    return order


def checked_mean(mean):
    try:
        values = tuple(float(m) for m in mean)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(math.isfinite(m) for m in values):
        raise SettingsError(f"mean {mean!r}: give three numbers, the R, G and B means "
                            f"(--mean R,G,B)")
    return values


def with_convention(weights, channel_order=None, mean=None):
    """`weights` with the input convention overridden where given.

    `mean` lists the R, G and B means in that order whatever the channel
    order (values belong to colours, not to positions); the result holds
    it in its channel order. Overriding only the channel order keeps each
    colour's recorded mean. Weights from a file that records no convention
    are refused until both are given.
    """
    recorded_rgb = (None if weights.mean is None
                    else in_channel_order(weights.mean, weights.channel_order))
    order = weights.channel_order if channel_order is None \
        else checked_channel_order(channel_order)
    rgb = recorded_rgb if mean is None else checked_mean(mean)
    missing = [option for option, value in zip(CONVENTION_OPTIONS, (order, rgb))
               if value is None]
    if missing:
        raise WeightsError(f"{weights.path}: a {weights.source} does not record the input "
                           f"convention (channel order and mean) its weights were trained with; "
                           f"give {' and '.join(missing)}")
    return dataclasses.replace(weights, channel_order=order, mean=in_channel_order(rgb, order))
