"""The project's own weight file: a plain `.npz` of arrays, no pickle.

Arrays are named `<layer>/weights` (HWIO) and `<layer>/biases`; the input
convention and provenance travel as `meta/*` string and float arrays, so
the file loads with `allow_pickle=False` and needs nothing else.
"""
import zipfile

import numpy as np

from fcn_graph.weights.model import WeightsError, assemble

META_KEYS = ("meta/arch", "meta/channel_order", "meta/mean", "meta/source")


def save_npz(weights, out_path):
    arrays = {"meta/arch": np.array(weights.arch),
              "meta/channel_order": np.array(weights.channel_order),
              "meta/mean": np.asarray(weights.mean, dtype=np.float64),
              "meta/source": np.array(weights.source)}
    for name, (kernel, bias) in weights.layers.items():
        arrays[f"{name}/weights"] = kernel
        if bias is not None:
            arrays[f"{name}/biases"] = bias
    # np.savez appends ".npz" to names without it; write through a file object to keep the name.
    with open(out_path, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path, arch=None):
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise WeightsError(f"{path}: not a readable .npz of plain arrays ({err})") from None
    absent = [key for key in META_KEYS if key not in arrays]
    if absent:
        raise WeightsError(f"{path}: .npz without {', '.join(absent)}; only files written by "
                           f"`fcn-graph weights convert` are read as .npz")
    layers = {}
    for key, value in arrays.items():
        layer, _, kind = key.rpartition("/")
        if layer == "meta":
            continue
        if kind not in ("weights", "biases"):
            raise WeightsError(f"{path}: array {key!r} is neither <layer>/weights nor "
                               f"<layer>/biases")
        kernel, bias = layers.get(layer, (None, None))
        layers[layer] = (value, bias) if kind == "weights" else (kernel, value)
    for layer, (kernel, _) in layers.items():
        if kernel is None:
            raise WeightsError(f"{path}: layer {layer} has biases but no {layer}/weights")
    stored_arch = str(arrays["meta/arch"])
    weights = assemble(path, str(arrays["meta/source"]), layers,
                       str(arrays["meta/channel_order"]), arrays["meta/mean"].tolist(), arch)
    if weights.arch != stored_arch:
        raise WeightsError(f"{path}: meta/arch says {stored_arch} but the layers are "
                           f"{weights.arch}")
    return weights
