"""Random weights with the layer names and shapes of a (narrowed) VGG.

A stand-in for a pretrained file where none can be downloaded: tests,
demos and benchmarks get every layer a real file has, with channel
counts scaled by `width` exactly as `build_vgg(width=...)` scales them.
"""
import numpy as np

from fcn_graph.architecture import BLOCK_CHANNELS, FC6_SIZE, FC_CHANNELS, REPEATS, scaled
from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.weights.model import Weights


def random_weights(arch="vgg16", width=1.0, fc8_classes=1000, seed=0, include_top=True,
                   channel_order="BGR", mean=REFERENCE_BGR_MEAN):
    """He-scaled random kernels and small random biases for every backbone layer.

    `include_top=False` leaves out fc6-fc8, as Keras' notop files do;
    `fc8_classes=None` leaves out only fc8.
    """
    rng = np.random.default_rng(seed)
    layers, channels = {}, 3

    def add(name, size, out):
        nonlocal channels
        fan_in = size * size * channels
        kernel = rng.standard_normal((size, size, channels, out)) * np.sqrt(2.0 / fan_in)
        layers[name] = (kernel.astype(np.float32),
                        (0.1 * rng.standard_normal(out)).astype(np.float32))
        channels = out

    for block, (repeats, base) in enumerate(zip(REPEATS[arch], BLOCK_CHANNELS), start=1):
        for i in range(1, repeats + 1):
            add(f"conv{block}_{i}", 3, scaled(base, width))
    if include_top:
        fc = scaled(FC_CHANNELS, width)
        add("fc6", FC6_SIZE, fc)
        add("fc7", 1, fc)
        if fc8_classes:
            add("fc8", 1, fc8_classes)
    return Weights(arch=arch, layers=layers, channel_order=channel_order, mean=tuple(mean),
                   source="random", path=f"<random {arch} width {width}>")
