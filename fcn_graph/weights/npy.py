"""caffe-tensorflow `.npy` files, read without running pickled code.

These files are a pickled dict (layer -> [W, b] or {'weights', 'biases'}),
and `np.load(allow_pickle=True)` would execute whatever the pickle asks
for. The unpickler here resolves only the few numpy callables needed to
rebuild arrays; any other global in the stream is refused before it runs.
"""
import codecs
import pickle

import numpy as np

from fcn_graph.weights.model import WeightsError, assemble, is_network_layer

NPY_MAGIC = b"\x93NUMPY"
# Keras, caffe-tensorflow and tensorflow-fcn preprocess as Caffe did: BGR minus this mean.
CAFFE_TF_BGR_MEAN = (103.939, 116.779, 123.68)


def _reconstruct():
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


# (module, name) a pickle may name -> what it gets instead of an import.
# Older files name numpy.core, newer ones numpy._core; both mean the same.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Protocol-2 pickles written by Python 3 spell byte strings this way.
    ("_codecs", "encode"): codecs.encode,
}


class ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, dicts, lists and strings; refuses every other global."""

    def __init__(self, stream, path):
        super().__init__(stream, encoding="latin1")
        self.path = path

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsError(
                f"{self.path}: the file's pickle asks for {module}.{name}, which could run "
                f"code; only plain dicts/lists of numeric arrays are accepted (a file you "
                f"trust can be re-saved as plain arrays with numpy.savez)") from None


def read_pickled_npy(path):
    """The object stored in an object-dtype .npy file, unpickled safely."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
        except ValueError as err:
            raise WeightsError(f"{path}: not a valid .npy file ({err})") from None
        if not dtype.hasobject:
            raise WeightsError(f"{path}: holds one plain {dtype} array of shape {shape}, not a "
                               f"dict of layers; expected a caffe-tensorflow weights file")
        try:
            array = ArrayUnpickler(f, path).load()
        except WeightsError:
            raise
        except Exception as err:  # a truncated or garbled pickle fails in many ways
            raise WeightsError(f"{path}: the pickled data is truncated or corrupt ({err})") \
                from None
    if isinstance(array, np.ndarray) and array.shape == () and array.dtype == object:
        return array.item()
    return array


def layer_pair(path, name, entry):
    """(W, b) from `[W, b]`, `[W]`, or `{'weights': W, 'biases': b}`."""
    if isinstance(entry, dict):
        if "weights" not in entry:
            raise WeightsError(f"{path}: layer {name} is a dict without 'weights' "
                               f"(keys: {sorted(map(str, entry))})")
        return entry["weights"], entry.get("biases")
    if isinstance(entry, (list, tuple)) and 1 <= len(entry) <= 2:
        return entry[0], (entry[1] if len(entry) == 2 else None)
    raise WeightsError(f"{path}: layer {name} is a {type(entry).__name__}; expected [W, b] or "
                       f"{{'weights': W, 'biases': b}}")


def load_npy(path, arch=None):
    content = read_pickled_npy(path)
    if not isinstance(content, dict):
        raise WeightsError(f"{path}: holds a {type(content).__name__}, expected a dict of "
                           f"layer name -> [W, b]")
    layers, ignored = {}, []
    for name, entry in content.items():
        name = name.decode("latin1") if isinstance(name, bytes) else str(name)
        pair = layer_pair(path, name, entry)
        if is_network_layer(name):
            layers[name] = pair
        else:
            ignored.append(name)
    return assemble(path, "caffe-tensorflow npy", layers, "BGR", CAFFE_TF_BGR_MEAN, arch,
                    ignored)
