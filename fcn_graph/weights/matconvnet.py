"""MatConvNet SimpleNN `.mat` files (imagenet-vgg-verydeep-16/19.mat).

`layers` is a cell of structs; each convolution carries `weights` =
{kernel, bias} (the oldest releases: `filters` and `biases`). The mean
image sits in `normalization` (older files) or `meta.normalization`.

Kernels are H x W x in x out, TensorFlow's HWIO, and are used as stored.
The VGG files were made from the Caffe release by MatConvNet's importer
(`utils/import-caffe.py` of vlfeat/matconvnet, run by
`utils/import-ref-models.sh`): it reads each Caffe blob as (out, in, H, W),
reverses every axis to (W, H, in, out), then, by default, swaps the first
two, giving (H, W, in, out); it also reverses conv1_1's input channels from
Caffe's BGR to RGB. `swap_hw=True` transposes every kernel (1, 0, 2, 3)
once more, which is wrong for these files but reproduces ports that do it.
"""
import numpy as np
import scipy.io

from fcn_graph.weights.model import WeightsError, assemble, is_network_layer

MAT5_HEADER = b"MATLAB 5.0 MAT-file"
MAT73_HEADER = b"MATLAB 7.3 MAT-file"


def unwrap(value):
    """Strip the 1x1 cell/struct wrappers that loadmat puts around MATLAB scalars."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.reshape(-1)[0]
    return value


def text(value):
    value = unwrap(value)
    if isinstance(value, np.ndarray):
        value = "".join(value.reshape(-1).tolist()) if value.size else ""
    return str(value)


def field(struct, name):
    return unwrap(getattr(struct, name)) if name in struct._fieldnames else None


def kernel_and_bias(path, name, layer, swap_hw=False):
    params = field(layer, "weights")
    if params is not None:
        if isinstance(params, np.ndarray) and params.dtype != object:
            cells = [params]  # a 1x1 cell {kernel}, unwrapped down to the kernel itself
        else:
            cells = list(np.asarray(params, dtype=object).reshape(-1))
        if len(cells) > 2:
            raise WeightsError(f"{path}: layer {name} has {len(cells)} weight arrays, "
                               f"expected {{kernel, bias}}")
        kernel = cells[0] if cells else None
        bias = cells[1] if len(cells) == 2 else None
    else:
        kernel, bias = field(layer, "filters"), field(layer, "biases")
    if kernel is None or np.asarray(kernel).size == 0:  # ReLU, pooling: no parameters
        return None
    kernel = np.asarray(kernel)
    # MATLAB drops trailing singleton dimensions (a single output map makes a 3-D array).
    kernel = kernel.reshape(kernel.shape + (1,) * (4 - kernel.ndim))
    if swap_hw:
        kernel = kernel.transpose(1, 0, 2, 3)
    # A layer without bias term stores an empty array in the bias slot.
    bias = None if bias is None or np.asarray(bias).size == 0 else np.asarray(bias).reshape(-1)
    return kernel, bias


def average_pixel(path, data):
    normalization = None
    if "meta" in data:
        normalization = field(unwrap(data["meta"]), "normalization")
    if normalization is None and "normalization" in data:
        normalization = unwrap(data["normalization"])
    average = None if normalization is None else field(normalization, "averageImage")
    if average is None or np.asarray(average).size % 3:
        raise WeightsError(f"{path}: no normalization.averageImage (top level or under meta); "
                           f"cannot tell which mean the weights were trained with")
    # A full mean image (H x W x 3) or a single pixel (3 x 1, 1 x 1 x 3): average to RGB.
    return np.asarray(average, dtype=np.float64).reshape(-1, 3).mean(axis=0)


def load_mat(path, arch=None, swap_hw=False):
    with open(path, "rb") as f:
        header = f.read(len(MAT73_HEADER))
    if header == MAT73_HEADER:
        raise WeightsError(f"{path}: MATLAB v7.3 (HDF5) .mat files are not read; re-save it in "
                           f"MATLAB with save(..., '-v7')")
    try:
        data = scipy.io.loadmat(path, struct_as_record=False)
    except Exception as err:  # scipy raises many types for truncated files
        raise WeightsError(f"{path}: unreadable .mat file, truncated or corrupt ({err})") from None
    if "layers" not in data:
        raise WeightsError(f"{path}: no 'layers' variable; expected a MatConvNet SimpleNN model "
                           f"(DagNN files must be converted to SimpleNN first)")
    layers, ignored = {}, []
    for entry in np.asarray(data["layers"], dtype=object).reshape(-1):
        layer = unwrap(entry)
        name = text(field(layer, "name"))
        params = kernel_and_bias(path, name, layer, swap_hw)
        if params is None:
            continue
        if is_network_layer(name):
            layers[name] = params
        else:
            ignored.append(name)
    source = "matconvnet mat, H and W swapped" if swap_hw else "matconvnet mat"
    return assemble(path, source, layers, "RGB", average_pixel(path, data), arch,
                    ignored)
