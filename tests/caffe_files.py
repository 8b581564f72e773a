"""Caffe weight files written by the project's own encoder of BVLC caffe.proto, for tests:
VGG layers as `caffemodel` records, in the current `layer` field or the legacy V1 `layers`."""
import numpy as np

from fcn_graph.weights import caffe_proto


def relu_name(name):
    return name.replace("conv", "relu") if name.startswith("conv") else "relu" + name[2:]


V1_ENUM = {"Convolution": 4, "InnerProduct": 14, "Deconvolution": 39, "ReLU": 18, "Scale": 0}


def caffe_blobs(name, kernel, bias, layer_type):
    """Caffe's blobs for a canonical layer: (out, in, kh, kw), (in, out, kh, kw) or (out, C*H*W)."""
    if layer_type == "InnerProduct":
        blob = kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[3], -1)
    else:
        blob = kernel.transpose(3, 2, 0, 1)
    return [blob] + ([] if bias is None else [bias])


def fill_blob(message, array, legacy):
    if legacy:
        dims = (1,) * (4 - array.ndim) + array.shape
        message.num, message.channels, message.height, message.width = dims
    else:
        message.shape.dim.extend(array.shape)
    message.data.extend(array.reshape(-1).tolist())


def caffe_net(records, legacy):
    """records: (name, type, [arrays]) -> NetParameter."""
    net = caffe_proto.NetParameter(name="VGG_ILSVRC_16_layers")
    for name, layer_type, arrays in records:
        if legacy:
            layer = net.layers.add(name=name, type=V1_ENUM[layer_type])
        else:
            layer = net.layer.add(name=name, type=layer_type)
        for array in arrays:
            fill_blob(layer.blobs.add(), np.asarray(array, np.float32), legacy)
    return net


def vgg_records(weights, fc_type="InnerProduct"):
    records = []
    for name, (kernel, bias) in weights.layers.items():
        layer_type = fc_type if name.startswith("fc") else "Convolution"
        records.append((name, layer_type, caffe_blobs(name, kernel, bias, layer_type)))
        records.append((relu_name(name), "ReLU", []))
    return records
