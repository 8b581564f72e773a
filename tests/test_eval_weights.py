"""`fcn-graph eval --weights`: a released FCN model file evaluated without a run directory."""
import numpy as np
import pytest

from fcn_graph.data import get_dataset
from fcn_graph.metrics import confusion_matrix
from fcn_graph.upsampling import bilinear_kernel
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.evaluation import evaluate_weights
from fcn_graph.weights import Weights
from fcn_graph.weights.canonical import save_npz
from fcn_graph.weights.synthetic import random_weights
from fixtures import SYNTHETIC_CLASSES, SYNTHETIC_OPTIONS, run_command

WIDTH = 1 / 16


def released_fcn8s(path):
    """An FCN-8s weight file in the canonical format: random backbone and heads, bilinear ups."""
    backbone = random_weights("vgg16", width=WIDTH, seed=3, fc8_classes=None)
    rng = np.random.default_rng(5)
    layers = dict(backbone.layers)
    for name, channels in (("score_fr", 256), ("score_pool4", 32), ("score_pool3", 16)):
        kernel = rng.normal(0, np.sqrt(2 / channels), (1, 1, channels, SYNTHETIC_CLASSES))
        layers[name] = (kernel.astype(np.float32),
                        rng.normal(0, 0.1, SYNTHETIC_CLASSES).astype(np.float32))
    for name, factor in (("upscore2", 2), ("upscore_pool4", 2), ("upscore8", 8)):
        layers[name] = (bilinear_kernel(factor, SYNTHETIC_CLASSES), None)
    weights = Weights("vgg16", layers, backbone.channel_order, backbone.mean, "test")
    save_npz(weights, str(path))
    return weights


def test_released_model_scores_match_an_independent_pytorch_forward(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from fcn_graph.bench.torch_net import TorchFCN
    path = tmp_path / "fcn8s-synthetic.npz"
    weights = released_fcn8s(path)
    data_dir = tmp_path / "data"
    options = [f"--dataset-option={key}={value}" for key, value in
               (("size", "32x24"), ("num_train", 1), ("num_val", 3))]
    assert run_command(["eval", "--weights", str(path), "--model", "fcn8s", "--dataset",
                                "synthetic", "--data-dir", str(data_dir)] + options) == 0
    printed = capsys.readouterr().out
    assert "3 images" in printed and "mean IU" in printed

    result = evaluate_weights(str(path), "fcn8s", "synthetic", data_dir=str(data_dir),
                              dataset_options=SYNTHETIC_OPTIONS)
    values = {}
    for name, (kernel, bias) in weights.layers.items():
        values[f"{name}/weights"] = kernel
        if bias is not None:
            values[f"{name}/biases"] = bias
    net = TorchFCN("fcn8s", "vgg16", values, weights.channel_order, weights.mean)
    source = get_dataset("synthetic", str(data_dir), **SYNTHETIC_OPTIONS)
    expected = np.zeros((SYNTHETIC_CLASSES, SYNTHETIC_CLASSES), np.int64)
    for image_path, label_path, _ in source.examples("val"):
        image = read_image_rgb(image_path).astype(np.float32)[None]
        with torch.no_grad():
            pred = net.logits_nhwc(image)[0].argmax(axis=-1)
        expected += confusion_matrix(source.read_label(label_path), pred, SYNTHETIC_CLASSES)
    np.testing.assert_array_equal(result["confusion_matrix"], expected)
    assert np.count_nonzero(expected.sum(axis=0)) > 1  # every layer came from the file


def test_a_backbone_file_is_refused(tmp_path):
    from fcn_graph.weights import WeightsError
    from fcn_graph.weights.canonical import save_npz
    from fcn_graph.weights.synthetic import random_weights
    path = tmp_path / "vgg16.npz"
    save_npz(random_weights("vgg16", width=WIDTH), str(path))
    with pytest.raises(WeightsError, match="score_fr"):
        evaluate_weights(str(path), "fcn8s", "synthetic", data_dir=str(tmp_path / "data"))


def test_a_file_of_another_variant_is_refused(tmp_path):
    from fcn_graph.weights import WeightsError
    path = tmp_path / "fcn8s.npz"
    released_fcn8s(path)
    with pytest.raises(WeightsError, match="score_pool4.*--model"):
        evaluate_weights(str(path), "fcn32s", "synthetic", data_dir=str(tmp_path / "data"),
                         dataset_options=SYNTHETIC_OPTIONS)
