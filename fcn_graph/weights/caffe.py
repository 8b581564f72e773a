"""Caffe `.caffemodel` files: VGG_ILSVRC_16/19_layers and the released FCN models.

Decoded with protobuf from the message description in `caffe_proto`.
Both layer lists are read: `layer` (LayerParameter, current Caffe) and the
deprecated `layers` (V1LayerParameter, with its V0 wrapper), which the
2014 VGG release uses. Caffe stores convolution weights (out, in, kh, kw)
and deconvolution weights (in, out, kh, kw); transposing both by
(2, 3, 1, 0) gives HWIO for conv2d and (h, w, out, in) for
conv2d_transpose. InnerProduct weights are (out, in) over inputs
flattened in C, H, W order.
"""
import numpy as np
from google.protobuf.message import DecodeError

from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.weights import caffe_proto
from fcn_graph.weights.model import FC_WINDOW, WeightsError, assemble, is_network_layer

CONV_TYPES = ("Convolution", "Deconvolution")
V0_TYPES = {"conv": "Convolution", "innerproduct": "InnerProduct"}


def blob_array(blob):
    values = blob.double_data if len(blob.double_data) else blob.data
    data = np.array(values, dtype=np.float32)
    if blob.HasField("shape"):
        shape = tuple(blob.shape.dim)
    else:  # legacy 4-D blob
        shape = (blob.num, blob.channels, blob.height, blob.width)
    if int(np.prod(shape)) != data.size:
        raise ValueError(f"blob of shape {shape} holds {data.size} values")
    return data.reshape(shape)


def layer_records(net):
    """(name, type, blobs) for every layer, current or legacy."""
    for layer in net.layer:
        yield layer.name, layer.type, layer.blobs
    for layer in net.layers:
        if layer.HasField("layer"):  # V0 inside V1
            yield layer.layer.name, V0_TYPES.get(layer.layer.type, layer.layer.type), \
                layer.layer.blobs
        else:
            yield layer.name, caffe_proto.V1_TYPES.get(layer.type, str(layer.type)), layer.blobs


def inner_product_to_hwio(path, name, weights):
    """(out, in) with inputs in C, H, W order -> (k, k, C, out)."""
    matrix = weights.reshape(weights.shape[-2], weights.shape[-1]) if weights.ndim > 2 \
        else weights
    window = FC_WINDOW.get(name, 1)
    out, inputs = matrix.shape
    if inputs % (window * window):
        raise WeightsError(f"{path}: layer {name} has a {matrix.shape} InnerProduct matrix; its "
                           f"{inputs} inputs are not a {window}x{window} window of feature maps")
    return matrix.reshape(out, inputs // (window * window), window, window).transpose(2, 3, 1, 0)


def squeeze_leading(array):
    """Legacy blobs pad shapes to 4-D with leading ones: (1, 1, 4096, 25088)."""
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    return array


def to_canonical(path, name, layer_type, blobs):
    kernel = blob_array(blobs[0])
    bias = blob_array(blobs[1]).reshape(-1) if len(blobs) > 1 else None
    if layer_type in CONV_TYPES:
        if kernel.ndim != 4:
            raise WeightsError(f"{path}: {layer_type} layer {name} has a {kernel.ndim}-D blob "
                               f"{kernel.shape}")
        return kernel.transpose(2, 3, 1, 0), bias
    return inner_product_to_hwio(path, name, squeeze_leading(kernel)), bias


def load_caffemodel(path, arch=None):
    with open(path, "rb") as f:
        content = f.read()
    try:
        net = caffe_proto.NetParameter.FromString(content)
    except DecodeError as err:
        raise WeightsError(f"{path}: not a Caffe NetParameter, or truncated ({err})") from None
    layers, ignored = {}, []
    for name, layer_type, blobs in layer_records(net):
        if not blobs:
            continue
        if layer_type not in CONV_TYPES + ("InnerProduct",) or not is_network_layer(name):
            ignored.append(name)
            continue
        try:
            layers[name] = to_canonical(path, name, layer_type, blobs)
        except WeightsError:
            raise
        except ValueError as err:
            raise WeightsError(f"{path}: layer {name}: {err}; the file is truncated or corrupt") \
                from None
    if not layers:
        raise WeightsError(f"{path}: no layers with weights; not a trained Caffe model "
                           f"(a .prototxt holds no weights)")
    return assemble(path, "caffe caffemodel", layers, "BGR", REFERENCE_BGR_MEAN, arch, ignored)
