"""`fcn-graph bench` at a tiny size: it runs, prints its fields and agrees with PyTorch.

Timings are printed, never asserted.
"""
import json

import numpy as np
import pytest

from fixtures import run_command


def test_flops_of_a_known_convolution_deconvolution_and_product():
    import tensorflow as tf
    from fcn_graph.bench.flops import forward_flops
    graph = tf.Graph()
    with graph.as_default():
        x = tf.zeros([2, 10, 12, 3])
        y = tf.nn.conv2d(x, tf.zeros([3, 3, 3, 8]), 1, "SAME")
        tf.nn.conv2d_transpose(y, tf.zeros([4, 4, 8, 8]), [2, 22, 26, 8], 2, "VALID")
        tf.matmul(tf.zeros([5, 7]), tf.zeros([7, 9]))
        tf.matmul(tf.zeros([7, 5]), tf.zeros([7, 9]), transpose_a=True)
    expected = (2 * (2 * 10 * 12) * (3 * 3 * 3 * 8) + 2 * (2 * 10 * 12) * (4 * 4 * 8 * 8)
                + 2 * (2 * 5 * 7 * 9))
    assert forward_flops(graph.get_operations()) == expected


def test_bench_prints_every_field_and_matches_pytorch(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    assert run_command(["bench", "--model", "fcn16s", "--size", "40", "--width", "0.0625",
                                 "--classes", "5", "--steps", "2", "--warmup", "1",
                                 "--xla", "off", "--torch", "--profile", "--top", "4",
                                 "--recompute", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for field in ("forward ms", "forward GFLOP/s", "forward % f32 peak", "forward peak MiB",
                  "train step ms", "train GFLOP/s", "train % f32 peak", "train peak MiB",
                  "matmul peak", "TF float32 / PyTorch:", "max |logits", "analytic",
                  "kept: plain, the faster", "PyTorch ran on", "profile of TF float32 forward",
                  "profile of TF float32 train", "op type", "slowest 4",
                  "TF float32 recompute / TF float32:", "TF float32 recompute / PyTorch:"):
        assert field in printed
    report = json.loads(out.read_text())
    assert report["flops_train"] == 3 * report["flops_forward"] > 0
    assert report["matmul_peak_gflops"]["float32"] > 0
    tf_figures = report["results"]["tensorflow float32"]
    for figures in (tf_figures, report["results"]["torch"]):
        assert figures["forward_s"] > 0 and figures["train_s"] > 0
        assert figures["forward_peak_mib"] > 0 and figures["train_peak_mib"] > 0
        assert np.isfinite(figures["train_gflops_per_s"])
    assert tf_figures["forward_share_of_float32_peak"] > 0
    assert set(report["ratios"]["tensorflow float32 / torch"]) == {
        "forward_s", "forward_peak_mib", "train_s", "train_peak_mib"}
    # The recomputing network, measured in a process of its own, against the plain one.
    recomputing = report["results"]["tensorflow float32 recompute"]
    assert recomputing["train_s"] > 0 and recomputing["train_peak_mib"] > 0
    assert set(report["ratios"]["tensorflow float32 recompute / tensorflow float32"]) == {
        "train_s", "train_peak_mib"}
    assert set(report["profile"]) == {"tensorflow float32"}
    import torch
    assert report["torch_device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    # Same weights, same inputs: the two renderings agree to float32 rounding.
    logits = report["logits"]
    assert logits["logit_scale"] > 1.0
    assert logits["tensorflow float32 vs torch"] < 1e-4 * logits["logit_scale"]


def test_the_inference_graph_runs_fused_convolutions(tmp_path):
    # The traced forward pass shows what grappler made of the graph: conv, bias and ReLU
    # as one op (fc6's, fc7's and the scores' matrix products with their biases), and no
    # conditional left by dropout.
    from fcn_graph.bench import BenchOptions, run_benchmark
    report = run_benchmark(BenchOptions(model="fcn32s", size=36, width=0.0625, num_classes=3,
                                        steps=1, warmup=0, xla="off", profile=True))
    kinds = {name: kind for name, kind, _ in
             report["profile"]["tensorflow float32"]["forward"]["ops"]}
    assert "FusedConv2D" in kinds["conv1_2/relu"]
    assert "FusedMatMul" in kinds["fc6/relu"] and "FusedMatMul" in kinds["fc7/relu"]
    assert "FusedMatMul" in kinds["score_fr/patch_product/BiasAdd"]
    assert not any(kind in ("BiasAdd", "Relu", "Conv2D", "MatMul", "Switch", "Merge")
                   for kind in kinds.values())


def tf_rendering(model):
    """(images, random weights, logits) of a 1/16-wide TF graph of `model` on a 37x37 image."""
    from fcn_graph.bench.inputs import random_batch, randomised
    from fcn_graph.bench.tf_net import TFBench, bench_spec, probe
    spec = bench_spec(model, 4, 0.0625, "vgg16")
    images, _ = random_batch(1, 37, 4)
    weights = randomised(probe(spec, 1, 37)[0], seed=2)
    bench = TFBench(spec, 1, 37, xla_step=False)
    try:
        bench.load(weights)
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


def test_precisions_side_by_side():
    from fcn_graph.bench import BenchOptions, format_report, run_benchmark
    report = run_benchmark(BenchOptions(model="fcn32s", size=32, width=0.0625, num_classes=3,
                                        steps=1, warmup=1, xla="off",
                                        precisions=("float32", "bfloat16")))
    text = format_report(report)
    if report["native"]["bfloat16"]["native"]:
        assert "TF bfloat16 speed-up over TF float32" in text
        assert report["results"]["tensorflow bfloat16"]["forward_share_of_bfloat16_peak"] > 0
        # bfloat16 keeps 8 significant bits: close to float32's logits, not equal.
        logits = report["logits"]
        assert 0 < logits["tensorflow bfloat16 vs tensorflow float32"] \
            < 0.05 * logits["logit_scale"]


def test_an_emulated_precision_is_named_not_timed_and_xla_is_kept_or_not(monkeypatch):
    from fcn_graph import precision
    from fcn_graph.bench import BenchOptions, format_report, run_benchmark
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    report = run_benchmark(BenchOptions(model="fcn32s", size=32, width=0.0625, num_classes=3,
                                        steps=1, warmup=1, xla="auto",
                                        precisions=("float32", "bfloat16")))
    assert list(report["results"]) == ["tensorflow float32"]
    assert report["native"]["bfloat16"]["native"] is False
    text = format_report(report)
    assert "bfloat16: NOT TIMED" in text
    assert "plain" in text and "xla" in text
    assert report["results"]["tensorflow float32"]["train_kept"] in ("plain", "xla")
    with pytest.raises(ValueError, match="nothing to time.*emulated"):
        run_benchmark(BenchOptions(model="fcn32s", size=32, precisions=("bfloat16",)))


def test_native_support_follows_the_cpu_flags_and_gpu_capability():
    from fcn_graph.precision import native_support
    assert native_support("float32", flags=set(), capabilities=[])[0]
    assert native_support("bfloat16", flags={"avx512_bf16"}, capabilities=[])[0]
    assert native_support("bfloat16", flags={"amx_bf16"}, capabilities=[])[0]
    assert not native_support("bfloat16", flags={"avx512f"}, capabilities=[])[0]
    assert not native_support("mixed_float16", flags={"avx512_bf16"}, capabilities=[])[0]
    assert native_support("mixed_float16", flags=set(), capabilities=[(7, 5)])[0]
    assert not native_support("bfloat16", flags={"avx512_bf16"}, capabilities=[(7, 5)])[0]


def test_bad_options_are_refused():
    from fcn_graph.bench import BenchOptions, run_benchmark
    with pytest.raises(ValueError, match="FCN variants"):
        run_benchmark(BenchOptions(model="unet"))
    with pytest.raises(ValueError, match="xla"):
        run_benchmark(BenchOptions(xla="maybe"))
    with pytest.raises(ValueError, match="precision"):
        run_benchmark(BenchOptions(precisions=("float8",)))
    with pytest.raises(SystemExit) as exit_info:
        run_command(["bench", "--precision", "float32,half"])
    assert exit_info.value.code == 2


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
