"""Run the benchmark: TensorFlow forward and training step, optionally PyTorch beside it."""
from dataclasses import asdict, dataclass

import numpy as np

from fcn_graph.bench.flops import TRAINING_FACTOR
from fcn_graph.bench.measure import PeakMemory, resident_bytes, time_calls
from fcn_graph.bench.tf_net import TFBench, random_batch, randomised
from fcn_graph.bench.torch_net import TorchFCN
from fcn_graph.errors import SettingsError
from fcn_graph.fcn import VARIANTS

XLA_MODES = ("auto", "on", "off")
# The PyTorch rendering has the reference heads, which fuse class scores.
BENCH_VARIANTS = sorted(name for name, variant in VARIANTS.items() if variant.fusion == "scores")
MIB = 2.0 ** 20


@dataclass
class BenchOptions:
    model: str = "fcn8s"
    size: int = 500
    batch: int = 1
    steps: int = 5
    warmup: int = 2
    width: float = 1.0
    num_classes: int = 21
    backbone: str = "vgg16"
    xla: str = "auto"      # auto: time the plain and the compiled step, keep the faster
    torch: bool = False

    def check(self):
        if self.model not in BENCH_VARIANTS:
            raise SettingsError(f"the benchmark covers the reference FCN variants "
                                f"{sorted(BENCH_VARIANTS)}, not {self.model!r}")
        if self.xla not in XLA_MODES:
            raise SettingsError(f"--xla must be one of {XLA_MODES}, got {self.xla!r}")
        if self.size < 1 or self.batch < 1 or self.steps < 1 or self.warmup < 0:
            raise SettingsError("--size, --batch and --steps must be positive and --warmup "
                                "zero or more")


def gflops_per_s(flops, seconds):
    return flops / seconds / 1e9


def timed(call, options, baseline):
    """(median seconds, peak MiB above `baseline` bytes) of a call."""
    with PeakMemory(baseline) as memory:
        median, _ = time_calls(call, options.steps, options.warmup)
    return median, memory.peak_bytes / MIB


def tensorflow_figures(options, images, labels):
    baseline = resident_bytes()
    bench = TFBench(options.model, options.num_classes, options.batch, options.size,
                    options.width, options.backbone, xla_step=options.xla != "off")
    try:
        weights = randomised(bench.weights())
        # The harness's own copy of the weights (handed on to PyTorch) is not
        # TensorFlow's memory.
        baseline += sum(value.nbytes for value in weights.values())
        bench.set_weights(weights)
        logits = bench.forward(images)
        figures = {"flops_forward": bench.flops}
        figures["forward_s"], figures["forward_peak_mib"] = timed(
            lambda: bench.forward(images), options, baseline)
        steps = {"plain": False, "xla": True}
        if options.xla == "off":
            del steps["xla"]
        if options.xla == "on":
            del steps["plain"]
        for name, xla in steps.items():
            figures[f"train_{name}_s"], figures[f"train_{name}_peak_mib"] = timed(
                bench.step_call(images, labels, xla), options, baseline)
        kept = min(steps, key=lambda name: figures[f"train_{name}_s"])
        figures.update(train_kept=kept, train_s=figures[f"train_{kept}_s"],
                       train_peak_mib=figures[f"train_{kept}_peak_mib"])
        return figures, weights, logits
    finally:
        bench.close()


def torch_figures(options, weights, images, labels):
    baseline = resident_bytes()
    net = TorchFCN(options.model, options.backbone, weights)
    logits = net.logits_nhwc(images)
    figures = {"device": net.device}
    figures["forward_s"], figures["forward_peak_mib"] = timed(net.forward_call(images), options,
                                                              baseline)
    figures["train_s"], figures["train_peak_mib"] = timed(net.step_call(images, labels), options,
                                                          baseline)
    return figures, logits


def run_benchmark(options):
    """Figures of the TensorFlow graph (and of PyTorch eager with `options.torch`) as a dict."""
    options.check()
    images, labels = random_batch(options.batch, options.size, options.num_classes)
    tf_figures, weights, tf_logits = tensorflow_figures(options, images, labels)
    flops = tf_figures["flops_forward"]
    report = {"options": asdict(options), "flops_forward": flops,
              "flops_train": TRAINING_FACTOR * flops,
              "flops_method": "analytic: convolution and deconvolution shapes of the graph, "
                              f"a multiply-add = 2 FLOPs, training = {TRAINING_FACTOR}x forward",
              "memory_method": PeakMemory().method + " above the resident size before the "
                               "framework built the network (weights, workspace, activations)",
              "tensorflow": tf_figures}
    if options.torch:
        torch_results, torch_logits = torch_figures(options, weights, images, labels)
        report["torch"] = torch_results
        report["max_abs_logit_difference"] = float(np.max(np.abs(tf_logits - torch_logits)))
        report["logit_scale"] = float(np.max(np.abs(tf_logits)))
    for framework in ("tensorflow", "torch"):
        if framework in report:
            figures = report[framework]
            figures["forward_gflops_per_s"] = gflops_per_s(flops, figures["forward_s"])
            figures["train_gflops_per_s"] = gflops_per_s(report["flops_train"],
                                                         figures["train_s"])
    return report


def format_report(report):
    options = report["options"]
    tf_figures = report["tensorflow"]
    torch_figures = report.get("torch")
    lines = [f"{options['model']} ({options['backbone']}, width {options['width']}), "
             f"{options['size']}x{options['size']}, batch {options['batch']}, "
             f"{options['num_classes']} classes; median of {options['steps']} after "
             f"{options['warmup']} warm-up",
             f"FLOPs: {report['flops_forward'] / 1e9:.2f} G forward, "
             f"{report['flops_train'] / 1e9:.2f} G training step ({report['flops_method']})",
             f"memory: {report['memory_method']}",
             ""]
    header = f"{'':<24}{'TensorFlow':>12}"
    if torch_figures:
        header += f"{'PyTorch':>12}{'TF/PyTorch':>12}"
    lines.append(header)
    rows = [("forward ms", "forward_s", 1000.0), ("forward GFLOP/s", "forward_gflops_per_s", 1.0),
            ("forward peak MiB", "forward_peak_mib", 1.0), ("train step ms", "train_s", 1000.0),
            ("train GFLOP/s", "train_gflops_per_s", 1.0),
            ("train peak MiB", "train_peak_mib", 1.0)]
    for label, key, scale in rows:
        line = f"{label:<24}{scale * tf_figures[key]:>12.1f}"
        if torch_figures:
            other = torch_figures[key]
            ratio = tf_figures[key] / other if other else float("nan")
            line += f"{scale * other:>12.1f}{ratio:>12.2f}"
        lines.append(line)
    steps = [name for name in ("plain", "xla") if f"train_{name}_s" in tf_figures]
    lines.append("TensorFlow train step: " + ", ".join(
        f"{name} {1000 * tf_figures[f'train_{name}_s']:.1f} ms" for name in steps)
        + f" (kept: {tf_figures['train_kept']})")
    if torch_figures:
        lines.append(f"PyTorch ran on {torch_figures['device']}; peak memory is host memory "
                     f"(resident size) only")
        lines.append(f"max |logits TF - PyTorch| = {report['max_abs_logit_difference']:.3g} "
                     f"(logits up to {report['logit_scale']:.3g})")
    return "\n".join(lines)
