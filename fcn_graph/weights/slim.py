"""TensorFlow checkpoints of VGG: TF-slim's vgg_16.ckpt / vgg_19.ckpt and any other.

Variables are read with TensorFlow's checkpoint reader, without a graph or
session; it accepts the V1 single files of the 2016 slim release as well
as V2 index/data pairs, and a directory means its latest checkpoint.

A variable is a VGG parameter when its name is
`[<scopes>/][conv<b>/]<layer>/<kind>`: layer conv<b>_<i> or fc6..fc8, kind
weights, filter or kernel for the kernel and biases or bias for the bias
(TF-slim: vgg_16/conv1/conv1_1/weights; tensorflow-vgg ports:
conv1_1/filter; Keras-style: conv1_1/kernel). Kernels are HWIO, as
tf.nn.conv2d takes them. An fc6 stored as a (25088, 4096) matrix
multiplied pool5 as tf.reshape flattens NHWC maps, so its rows run over
H, then W, then C; `assemble` folds it back to (7, 7, 512, 4096).

Only TF-slim's scopes (vgg_16, vgg_19) tell how the weights' images were
preprocessed (RGB minus the RGB mean, slim's vgg_preprocessing); any other
checkpoint records no input convention and the caller must give it.
"""
import os
import re

import tensorflow as tf

from fcn_graph.weights.model import WeightsError, assemble

SLIM_RGB_MEAN = (123.68, 116.78, 103.94)
SLIM_SCOPES = {"vgg_16": "vgg16", "vgg_19": "vgg19"}
KERNEL_KINDS = ("weights", "filter", "kernel")
BIAS_KINDS = ("biases", "bias")
# The lazy optional scope lets a conv<b>/ block group match as such, not as a scope.
VGG_VARIABLE = re.compile(r"^(?:(?P<scope>.+?)/)??(?:conv\d/)?(?P<layer>conv\d_\d|fc[678])/"
                          rf"(?P<kind>{'|'.join(KERNEL_KINDS + BIAS_KINDS)})$")
EXPECTED_NAMES = ("conv1_1/weights (or filter, kernel) and conv1_1/biases (or bias), ... fc7, "
                  "optionally under scopes as in vgg_16/conv1/conv1_1/weights")
# How many unrecognised variable names an error quotes.
QUOTED_NAMES = 5
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


def read_vgg_variables(path, prefix):
    """({layer: (kernel, bias)}, scope) from the VGG-named variables of checkpoint `prefix`.

    `scope` is the outer scope the variables share (None without one);
    variables of other names (optimizer slots, global_step) are left out.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as err:  # the reader raises DataLossError, NotFoundError, ...
        raise WeightsError(f"{path}: unreadable TensorFlow checkpoint, truncated or corrupt "
                           f"({str(err).splitlines()[0]})") from None
    names = sorted(reader.get_variable_to_shape_map())
    matches = [match for match in map(VGG_VARIABLE.match, names) if match]
    if not matches:
        shown = ", ".join(names[:QUOTED_NAMES]) + (", ..." if len(names) > QUOTED_NAMES else "")
        raise WeightsError(f"{path}: none of its {len(names)} variables has a VGG layer name "
                           f"(found: {shown or 'none'}); expected {EXPECTED_NAMES}")
    scopes = sorted({match["scope"] or "(none)" for match in matches})
    if len(scopes) > 1:
        raise WeightsError(f"{path}: holds VGG variables under several scopes "
                           f"({', '.join(scopes)}); save one network's variables in a "
                           f"checkpoint of their own")
    sources = {}
    for match in matches:
        part = 0 if match["kind"] in KERNEL_KINDS else 1
        parts = sources.setdefault(match["layer"], [None, None])
        if parts[part] is not None:
            raise WeightsError(f"{path}: layer {match['layer']} has two "
                               f"{('kernels', 'biases')[part]}, {parts[part]} and "
                               f"{match.string}")
        parts[part] = match.string
    for layer, (kernel, _) in sources.items():
        if kernel is None:
            raise WeightsError(f"{path}: layer {layer} has biases but no kernel")
    layers = {layer: tuple(None if name is None else reader.get_tensor(name) for name in parts)
              for layer, parts in sources.items()}
    return layers, matches[0]["scope"]


def load_checkpoint(path, arch=None):
    """A TF-slim checkpoint with its convention, or any VGG-named one without."""
    layers, scope = read_vgg_variables(path, checkpoint_prefix(path))
    if scope not in SLIM_SCOPES:
        return assemble(path, "tensorflow checkpoint", layers, None, None, arch)
    weights = assemble(path, "tf-slim checkpoint", layers, "RGB", SLIM_RGB_MEAN, arch)
    if weights.arch != SLIM_SCOPES[scope]:
        raise WeightsError(f"{path}: variables live under {scope} but the layers are "
                           f"{weights.arch}")
    return weights
