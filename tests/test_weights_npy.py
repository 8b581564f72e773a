"""caffe-tensorflow .npy files: both dict styles round-trip; pickled code never runs."""
import numpy as np
import pytest

from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.weights import WeightsError, load_weights
from fcn_graph.weights.npy import CAFFE_TF_BGR_MEAN
from fcn_graph.weights.synthetic import random_weights


def caffe_tensorflow_dict(weights, style):
    """The dict caffe-tensorflow pickles: fc layers as 2-D matrices, fc6 flattened H, W, C."""
    content = {}
    for name, (kernel, bias) in weights.layers.items():
        if name.startswith("fc"):
            kernel = kernel.reshape(-1, kernel.shape[-1])
        content[name] = [kernel, bias] if style == "list" else {"weights": kernel, "biases": bias}
    return content


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
@pytest.mark.parametrize("style", ["list", "dict"])
def test_npy_round_trip(tmp_path, arch, style):
    original = random_weights(arch, width=1 / 16, seed=3)
    path = tmp_path / "vgg.npy"
    np.save(path, caffe_tensorflow_dict(original, style), allow_pickle=True)

    loaded = load_weights(path)

    assert loaded.mismatches(original) == []
    assert loaded.arch == arch
    assert loaded.layers["fc6"][0].shape == (7, 7, 32, 256)
    assert loaded.layers["fc7"][0].shape == (1, 1, 256, 256)
    assert (loaded.channel_order, loaded.mean) == ("BGR", CAFFE_TF_BGR_MEAN)
    assert loaded.source == "caffe-tensorflow npy"


def test_fc6_flattening_order_is_height_width_channels(tmp_path):
    # One nonzero weight at (h=1, w=2, c=3) -> output 4 must come back at that position.
    weights = random_weights("vgg16", width=1 / 16, include_top=False)
    fc6 = np.zeros((7, 7, 32, 8), np.float32)
    fc6[1, 2, 3, 4] = 1.0
    content = caffe_tensorflow_dict(weights, "list")
    content["fc6"] = [fc6.reshape(7 * 7 * 32, 8), np.zeros(8, np.float32)]
    np.save(tmp_path / "w.npy", content, allow_pickle=True)
    loaded_fc6 = load_weights(tmp_path / "w.npy").layers["fc6"][0]
    assert loaded_fc6.shape == (7, 7, 32, 8)
    assert loaded_fc6[1, 2, 3, 4] == 1.0 and loaded_fc6.sum() == 1.0


class CreatesMarker:
    """Unpickling this calls open(marker, 'w'): the file appears if pickled code runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.npy"
    content = caffe_tensorflow_dict(random_weights("vgg16", width=1 / 32), "list")
    content["conv1_1"].append(CreatesMarker(marker))
    np.save(path, content, allow_pickle=True)
    # The payload is live: numpy's own loader runs it.
    np.load(path, allow_pickle=True)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(WeightsError, match=r"evil\.npy: the file.s pickle asks for io\.open"):
        load_weights(path)
    assert not marker.exists()


def test_non_array_content_is_refused(tmp_path):
    path = tmp_path / "strings.npy"
    np.save(path, {"conv1_1": ["not", "arrays"]}, allow_pickle=True)
    with pytest.raises(WeightsError, match=r"strings\.npy: layer conv1_1 kernel is <U3"):
        load_weights(path)


def test_plain_array_is_not_a_weights_file(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.zeros((3, 3), np.float32))
    with pytest.raises(WeightsError, match=r"plain\.npy: holds one plain float32 array"):
        load_weights(path)


def test_truncated_npy_names_the_file(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, caffe_tensorflow_dict(random_weights("vgg16", width=1 / 32), "list"),
            allow_pickle=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"cut\.npy: the pickled data is truncated"):
        load_weights(path)


def test_vgg19_file_refused_for_vgg16(tmp_path):
    path = tmp_path / "vgg19.npy"
    np.save(path, caffe_tensorflow_dict(random_weights("vgg19", width=1 / 32), "dict"),
            allow_pickle=True)
    with pytest.raises(WeightsError, match=r"vgg19\.npy: holds vgg19 weights .* vgg16 was asked"):
        load_weights(path, arch="vgg16")


def test_broken_layer_chain_names_the_layer(tmp_path):
    content = caffe_tensorflow_dict(random_weights("vgg16", width=1 / 32), "list")
    content["conv2_1"][0] = content["conv2_1"][0][:, :, :1]
    np.save(tmp_path / "w.npy", content, allow_pickle=True)
    with pytest.raises(WeightsError, match=r"w\.npy: layer conv2_1 expects 1 input channels "
                                           r"but conv1_2 gives 2"):
        load_weights(tmp_path / "w.npy")


def test_reference_mean_is_not_the_keras_mean():
    # Two close but distinct BGR means; weights must carry their own.
    assert not np.allclose(CAFFE_TF_BGR_MEAN, REFERENCE_BGR_MEAN, atol=1e-3)
