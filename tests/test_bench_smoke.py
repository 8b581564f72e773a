"""`fcn-graph bench` at a tiny size: it runs, prints its fields and agrees with PyTorch.

Timings are printed, never asserted.
"""
import json

import numpy as np
import pytest

from fixtures import run_command


def test_flops_of_a_known_convolution_and_deconvolution():
    import tensorflow as tf
    from fcn_graph.bench.flops import forward_flops
    graph = tf.Graph()
    with graph.as_default():
        x = tf.zeros([2, 10, 12, 3])
        y = tf.nn.conv2d(x, tf.zeros([3, 3, 3, 8]), 1, "SAME")
        tf.nn.conv2d_transpose(y, tf.zeros([4, 4, 8, 8]), [2, 22, 26, 8], 2, "VALID")
    expected = 2 * (2 * 10 * 12) * (3 * 3 * 3 * 8) + 2 * (2 * 10 * 12) * (4 * 4 * 8 * 8)
    assert forward_flops(graph.get_operations()) == expected


def test_bench_prints_every_field_and_matches_pytorch(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    assert run_command(["bench", "--model", "fcn16s", "--size", "40", "--width", "0.0625",
                                 "--classes", "5", "--steps", "2", "--warmup", "1",
                                 "--xla", "off", "--torch", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for field in ("forward ms", "forward GFLOP/s", "forward peak MiB", "train step ms",
                  "train GFLOP/s", "train peak MiB", "TF/PyTorch", "max |logits TF - PyTorch|",
                  "analytic", "kept: plain", "PyTorch ran on"):
        assert field in printed
    report = json.loads(out.read_text())
    assert report["flops_train"] == 3 * report["flops_forward"] > 0
    for framework in ("tensorflow", "torch"):
        figures = report[framework]
        assert figures["forward_s"] > 0 and figures["train_s"] > 0
        assert np.isfinite(figures["train_gflops_per_s"])
    import torch
    assert report["torch"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    # Same weights, same inputs: the two renderings agree to float32 rounding.
    assert report["logit_scale"] > 1.0
    assert report["max_abs_logit_difference"] < 1e-4 * report["logit_scale"]


def tf_rendering(model):
    """(images, random weights, logits) of a 1/16-wide TF graph of `model` on a 37x37 image."""
    from fcn_graph.bench.tf_net import TFBench, random_batch, randomised
    images, _ = random_batch(1, 37, 4)
    bench = TFBench(model, 4, 1, 37, 0.0625, "vgg16", xla_step=False)
    try:
        weights = randomised(bench.weights(), seed=2)
        bench.set_weights(weights)
        return images, weights, bench.forward(images)
    finally:
        bench.close()


@pytest.mark.parametrize("model", ["fcn32s", "fcn8s-atonce"])
def test_pytorch_rendering_agrees_for_other_heads(model):
    pytest.importorskip("torch")
    from fcn_graph.bench.torch_net import TorchFCN
    images, weights, tf_logits = tf_rendering(model)
    torch_logits = TorchFCN(model, "vgg16", weights).logits_nhwc(images)
    assert tf_logits.shape == torch_logits.shape == (1, 37, 37, 4)
    np.testing.assert_allclose(tf_logits, torch_logits, rtol=1e-4,
                               atol=1e-4 * np.abs(tf_logits).max())


def test_xla_step_runs_and_is_reported(capsys):
    from fcn_graph.bench import BenchOptions, format_report, run_benchmark
    report = run_benchmark(BenchOptions(model="fcn32s", size=32, width=0.0625, num_classes=3,
                                        steps=1, warmup=1, xla="auto"))
    text = format_report(report)
    assert "plain" in text and "xla" in text
    assert report["tensorflow"]["train_kept"] in ("plain", "xla")


def test_bad_options_are_refused():
    from fcn_graph.bench import BenchOptions, run_benchmark
    with pytest.raises(ValueError, match="FCN variants"):
        run_benchmark(BenchOptions(model="unet"))
    with pytest.raises(ValueError, match="xla"):
        run_benchmark(BenchOptions(xla="maybe"))


def test_pytorch_rendering_keeps_its_own_reference_offsets(monkeypatch):
    # A wrong crop in the graph's variant table must show as a disagreement,
    # not be copied by the rendering that is meant to check it.
    pytest.importorskip("torch")
    from fcn_graph import fcn
    from fcn_graph.bench.torch_net import TorchFCN
    monkeypatch.setitem(fcn.VARIANTS, "fcn32s", fcn.Variant((), 32, 18))
    images, weights, tf_logits = tf_rendering("fcn32s")
    torch_logits = TorchFCN("fcn32s", "vgg16", weights).logits_nhwc(images)
    assert np.abs(tf_logits - torch_logits).max() > 1e-3 * np.abs(tf_logits).max()
