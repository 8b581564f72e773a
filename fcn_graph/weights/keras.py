"""Keras VGG16/VGG19 weight files: Keras 2 legacy `.h5` and Keras 3 `.weights.h5`.

Keras 2 lists its layers in the root attribute `layer_names`, each group
naming its datasets in `weight_names`. Keras 3 stores `layers/<class
name>_<n>/vars/{0,1}` with the user-visible layer name as an attribute of
`vars`; the group names sort as text, so layers are matched by that
attribute, never by position. Layer names map to the canonical ones:
block<b>_conv<i> -> conv<b>_<i>, fc1/fc2/predictions -> fc6/fc7/fc8.
"""
import re

import h5py

from fcn_graph.weights.model import WeightsError, assemble
from fcn_graph.weights.npy import CAFFE_TF_BGR_MEAN

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TOP_LAYERS = {"fc1": "fc6", "fc2": "fc7", "predictions": "fc8"}


def canonical_name(keras_name):
    match = re.fullmatch(r"block(\d)_conv(\d)", keras_name)
    if match:
        return "conv{}_{}".format(*match.groups())
    return TOP_LAYERS.get(keras_name)


def decode(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def is_kernel(weight_name):
    # 'block1_conv1/kernel:0' (Keras 2), 'block1_conv1/kernel' (Keras 3 `model.save('x.h5')`)
    # or 'block1_conv1_W_1:0' (Keras 1 era files)
    return re.search(r"(kernel|_W)(_\d+)?(:\d+)?$", weight_name) is not None


def keras2_layers(path, root):
    layers = {}
    for keras_name in map(decode, root.attrs["layer_names"]):
        name = canonical_name(keras_name)
        group = root[keras_name]
        weight_names = [decode(w) for w in group.attrs.get("weight_names", [])]
        if name is None or not weight_names:
            continue
        kernels = [w for w in weight_names if is_kernel(w)]
        biases = [w for w in weight_names if not is_kernel(w)]
        if len(kernels) != 1 or len(biases) > 1:
            raise WeightsError(f"{path}: layer {keras_name} has weights {weight_names}; "
                               f"expected one kernel and one bias")
        layers[name] = (group[kernels[0]][()], group[biases[0]][()] if biases else None)
    return layers


def keras3_layers(path, root):
    layers = {}
    for group_name, group in root["layers"].items():
        variables = group.get("vars")
        if variables is None or "0" not in variables:
            continue
        keras_name = decode(variables.attrs.get("name", group_name))
        name = canonical_name(keras_name)
        if name is None:
            continue
        if name in layers:
            raise WeightsError(f"{path}: two groups are named {keras_name}")
        layers[name] = (variables["0"][()], variables["1"][()] if "1" in variables else None)
    return layers


def load_keras(path, arch=None):
    try:
        with h5py.File(path, "r") as f:
            # A whole-model save keeps the weights under model_weights.
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in root.attrs:
                layers, source = keras2_layers(path, root), "keras2 h5"
            elif "layers" in root:
                layers, source = keras3_layers(path, root), "keras3 weights.h5"
            else:
                raise WeightsError(f"{path}: HDF5 file without Keras weights (no 'layer_names' "
                                   f"attribute, no 'layers' group)")
    except (OSError, KeyError) as err:
        raise WeightsError(f"{path}: unreadable HDF5 file, truncated or corrupt ({err})") from None
    return assemble(path, source, layers, "BGR", CAFFE_TF_BGR_MEAN, arch)
