"""Caffe bytes encoded by hand from BVLC caffe.proto's field numbers, not from caffe_proto.

The round-trip tests write files with the loader's own message description,
so a wrong field number there would go unnoticed; these bytes pin it to
caffe.proto: NetParameter.layer = 100, .layers = 2; LayerParameter name 1,
type 2, blobs 7; V1LayerParameter name 4, type 5 (CONVOLUTION = 4), blobs 6;
BlobProto num 1, channels 2, height 3, width 4, data 5 (packed), shape 7;
BlobShape dim 1 (packed int64).
"""
import numpy as np
import pytest

from fcn_graph.weights import load_weights

VARINT, LENGTH = 0, 2


def varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def tag(number, wire_type):
    return varint(number << 3 | wire_type)


def length_field(number, payload):
    return tag(number, LENGTH) + varint(len(payload)) + payload


def int_field(number, value):
    return tag(number, VARINT) + varint(value)


def blob(array, legacy):
    data = length_field(5, array.astype("<f4").tobytes())
    if legacy:
        return b"".join(int_field(n, d) for n, d in zip((1, 2, 3, 4), array.shape)) + data
    shape = length_field(1, b"".join(varint(d) for d in array.shape))
    return length_field(7, shape) + data


@pytest.mark.parametrize("legacy", [False, True], ids=["layer_100", "v1_layers_2"])
def test_hand_encoded_convolution(tmp_path, legacy):
    rng = np.random.default_rng(0)
    caffe_kernel = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # out, in, kh, kw
    bias = rng.standard_normal(4).astype(np.float32)
    blobs = [blob(caffe_kernel, legacy), blob(bias.reshape(1, 1, 1, 4) if legacy else bias,
                                              legacy)]
    if legacy:
        layer = (length_field(4, b"conv1_1") + int_field(5, 4)
                 + b"".join(length_field(6, b) for b in blobs))
        relu = length_field(4, b"relu1_1") + int_field(5, 18)
        net = length_field(1, b"VGG_ILSVRC_16_layers") + length_field(2, layer) \
            + length_field(2, relu)
    else:
        layer = (length_field(1, b"conv1_1") + length_field(2, b"Convolution")
                 + b"".join(length_field(7, b) for b in blobs))
        relu = length_field(1, b"relu1_1") + length_field(2, b"ReLU")
        net = length_field(1, b"VGG_ILSVRC_16_layers") + length_field(100, layer) \
            + length_field(100, relu)
    path = tmp_path / "hand.caffemodel"
    path.write_bytes(net)

    weights = load_weights(path)

    kernel, loaded_bias = weights.layers["conv1_1"]
    assert list(weights.layers) == ["conv1_1"]
    assert np.array_equal(kernel, caffe_kernel.transpose(2, 3, 1, 0))
    assert kernel[1, 2, 0, 3] == caffe_kernel[3, 0, 1, 2]
    assert np.array_equal(loaded_bias, bias)
