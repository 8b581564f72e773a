"""`load_weights`: recognise a weight file by its content and read it.

Extensions lie (a `.h5` may be a MATLAB v7.3 file, a `.caffemodel` an
HTML error page), so the format is read from the first bytes; only
Caffe's protobuf, which has no signature, falls back on the extension.
"""
import os

from fcn_graph.errors import SettingsError
from fcn_graph.weights.caffe import load_caffemodel
from fcn_graph.weights.canonical import load_npz
from fcn_graph.weights.keras import HDF5_MAGIC, load_keras
from fcn_graph.weights.matconvnet import MAT5_HEADER, MAT73_HEADER, load_mat
from fcn_graph.weights.model import WeightsError, with_convention
from fcn_graph.weights.npy import NPY_MAGIC, load_npy
from fcn_graph.weights.savedmodel import is_saved_model, load_saved_model
from fcn_graph.weights.slim import is_checkpoint, load_checkpoint

LOADERS = {
    "npy": load_npy,
    "npz": load_npz,
    "mat": load_mat,
    "checkpoint": load_checkpoint,
    "savedmodel": load_saved_model,
    "keras": load_keras,
    "caffemodel": load_caffemodel,
}
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


def looks_like_caffemodel(head):
    """A NetParameter starts with field 1 (name), 2 (V1 layers), 3/4 (inputs) or 100 (layer)."""
    return head[:1] in (b"\x0a", b"\x12", b"\x1a", b"\x20", b"\x22") or head[:2] == b"\xa2\x06"


def check_exists(path):
    """Refuse a path that is neither a file, a directory nor a checkpoint's prefix."""
    if not (os.path.exists(path) or is_checkpoint(path)):
        raise WeightsError(f"{path}: the file does not exist (nor a checkpoint with this "
                           f"prefix); check the path")


def detect_format(path):
    """One of LOADERS' keys, from the file's content."""
    path = str(path)
    if is_saved_model(path):
        return "savedmodel"
    if is_checkpoint(path):
        return "checkpoint"
    check_exists(path)
    if os.path.isdir(path):
        raise WeightsError(f"{path}: a directory without a TensorFlow checkpoint or SavedModel")
    with open(path, "rb") as f:
        head = f.read(128)
    if not head:
        raise WeightsError(f"{path}: the file is empty (an interrupted download?)")
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if head.startswith(HDF5_MAGIC):
        return "keras"
    if head.startswith(MAT5_HEADER) or head.startswith(MAT73_HEADER):
        return "mat"
    if head.startswith(GZIP_MAGIC):
        raise WeightsError(f"{path}: a gzip archive; unpack it first (tar xzf {path}) and pass "
                           f"the checkpoint inside")
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        raise WeightsError(f"{path}: an HTML page, not weights; the download went wrong")
    if path.endswith(".caffemodel") or looks_like_caffemodel(head):
        return "caffemodel"
    raise WeightsError(f"{path}: unknown weight format; expected a caffe-tensorflow .npy, "
                       f"MatConvNet .mat, TensorFlow checkpoint or SavedModel, Keras .h5, or "
                       f"Caffe .caffemodel")


def load_weights(path, arch=None, channel_order=None, mean=None, matconvnet_swap_hw=False):
    """Read any supported VGG/FCN weight file into a `Weights`.

    `arch` ('vgg16' or 'vgg19'), when given, is checked against the file.
    `channel_order` ('RGB' or 'BGR') and `mean` (the R, G, B means, in that
    order) override the input convention the file implies; files that do
    not record one (SavedModels, checkpoints outside TF-slim's scopes) need
    both. `matconvnet_swap_hw` transposes MatConvNet kernels (1, 0, 2, 3),
    reproducing ports that do so (see `matconvnet`); other formats refuse it.
    Raises `WeightsError` naming the file (and layer) for anything unusable.
    """
    path = str(path)
    found = detect_format(path)
    if matconvnet_swap_hw:
        if found != "mat":
            raise SettingsError(f"{path}: matconvnet_swap_hw (--matconvnet-swap-hw) applies "
                                f"only to MatConvNet .mat files, not to a {found} file")
        weights = load_mat(path, arch, swap_hw=True)
    else:
        weights = LOADERS[found](path, arch)
    return with_convention(weights, channel_order, mean)
