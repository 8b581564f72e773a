"""TF-slim checkpoints (vgg_16.ckpt, vgg_19.ckpt): `vgg_16/conv1/conv1_1/weights` etc.

Read with TensorFlow's checkpoint reader, which accepts the V1 single
files of the 2016 release as well as V2 index/data pairs; a directory
means its latest checkpoint.
"""
import os
import re

import tensorflow as tf

from fcn_graph.weights.model import WeightsError, assemble

SLIM_RGB_MEAN = (123.68, 116.78, 103.94)
SLIM_NAME = re.compile(r"^(vgg_1[69])/(?:conv\d/)?(conv\d_\d|fc[678])/(weights|biases)$")
# Footer of TensorFlow's sorted-table files: V1 checkpoints and V2 `.index` files end with it.
TABLE_MAGIC = (0xdb4775248b80fb57).to_bytes(8, "little")


def checkpoint_prefix(path):
    """The name TensorFlow's reader wants for a directory, prefix, or one file of a checkpoint."""
    path = str(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        candidates = sorted({re.sub(r"\.(index|data-\d+-of-\d+|meta)$", "", f)
                             for f in os.listdir(path) if re.search(r"\.ckpt", f)})
        if len(candidates) != 1:
            raise WeightsError(f"{path}: directory holds {len(candidates)} checkpoints "
                               f"({candidates}); pass the checkpoint's path prefix")
        return os.path.join(path, candidates[0])
    return re.sub(r"\.(index|data-\d+-of-\d+|meta)$", "", path)


def is_checkpoint(path):
    path = str(path)
    if os.path.isdir(path):
        return any(".ckpt" in f or f == "checkpoint" for f in os.listdir(path))
    if os.path.exists(checkpoint_prefix(path) + ".index"):
        return True
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < len(TABLE_MAGIC):
            return False
        f.seek(-len(TABLE_MAGIC), os.SEEK_END)
        return f.read() == TABLE_MAGIC


def load_slim(path, arch=None):
    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as err:  # the reader raises DataLossError, NotFoundError, ...
        raise WeightsError(f"{path}: unreadable TensorFlow checkpoint, truncated or corrupt "
                           f"({str(err).splitlines()[0]})") from None
    layers, nets = {}, set()
    for name in reader.get_variable_to_shape_map():
        match = SLIM_NAME.match(name)
        if not match:
            continue
        net, layer, kind = match.groups()
        nets.add(net)
        kernel, bias = layers.get(layer, (None, None))
        value = reader.get_tensor(name)
        layers[layer] = (value, bias) if kind == "weights" else (kernel, value)
    if not layers:
        raise WeightsError(f"{path}: no vgg_16/... or vgg_19/... variables; not a TF-slim VGG "
                           f"checkpoint")
    if len(nets) > 1:
        raise WeightsError(f"{path}: mixes variables of {sorted(nets)}")
    for layer, (kernel, _) in layers.items():
        if kernel is None:
            raise WeightsError(f"{path}: layer {layer} has biases but no weights")
    weights = assemble(path, "tf-slim checkpoint", layers, "RGB", SLIM_RGB_MEAN, arch)
    scope_arch = nets.pop().replace("_", "")
    if weights.arch != scope_arch:
        raise WeightsError(f"{path}: variables live under {scope_arch} names but the layers "
                           f"are {weights.arch}")
    return weights
