"""TensorFlow SavedModels of VGG, such as a TF1 model saved under the tag `vgg16`.

Only the variables are read, from `<dir>/variables/variables.{index,data-*}`,
by the same VGG names as any TensorFlow checkpoint (see `slim`). The graph
is neither imported nor run, so its signature (input and output tensor
names, tags) does not matter. A SavedModel does not record how the images
its weights were trained on were preprocessed: the caller gives the input
convention.
"""
import os

from fcn_graph.weights.model import WeightsError, assemble
from fcn_graph.weights.slim import read_vgg_variables

GRAPH_FILES = ("saved_model.pb", "saved_model.pbtxt")


def saved_model_dir(path):
    """The SavedModel directory `path` is, or whose graph file it is; None otherwise."""
    path = str(path)
    if os.path.isfile(path) and os.path.basename(path) in GRAPH_FILES:
        return os.path.dirname(path) or "."
    if os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name))
                                   for name in GRAPH_FILES):
        return path
    return None


def is_saved_model(path):
    return saved_model_dir(path) is not None


def load_saved_model(path, arch=None):
    prefix = os.path.join(saved_model_dir(path), "variables", "variables")
    if not os.path.isfile(prefix + ".index"):
        raise WeightsError(f"{path}: a SavedModel without variables/variables.index; weights "
                           f"frozen into its graph as constants are not read")
    layers, _ = read_vgg_variables(path, prefix)
    return assemble(path, "tensorflow savedmodel", layers, None, None, arch)
