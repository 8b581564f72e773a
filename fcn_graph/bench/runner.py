"""Run the benchmark: TensorFlow per precision, optionally PyTorch beside it, in rounds.

Each round measures every configuration once, each in a process of its own
(`jobs`), in alternating order from round to round, and records each
configuration's figures and the ratios between configurations of that
round. On a machine shared with other work the absolute times drift with
its load; ratios taken within a round drift much less. The report gives
the median over rounds of every figure and of every ratio.
"""
import importlib.util
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

from fcn_graph.bench.flops import TRAINING_FACTOR
from fcn_graph.bench.inputs import randomised
from fcn_graph.bench.jobs import run_job
from fcn_graph.bench.measure import PeakMemory
from fcn_graph.bench.peak import MATMUL_SIZE
from fcn_graph.bench.profile import format_profile
from fcn_graph.bench.tf_net import bench_spec, probe
from fcn_graph.errors import MissingDependencyError, SettingsError
from fcn_graph.fcn import VARIANTS
from fcn_graph.precision import PRECISIONS, native_support

XLA_MODES = ("auto", "on", "off")
# The PyTorch rendering has the reference heads, which fuse class scores.
BENCH_VARIANTS = sorted(name for name, variant in VARIANTS.items() if variant.fusion == "scores")
TF_WORKER = "fcn_graph.bench.tf_worker"
TORCH_WORKER = "fcn_graph.bench.torch_worker"
TORCH = "torch"
PHASES = ("forward", "train")
RECOMPUTE_SUFFIX = " recompute"
MATMUL_FLOPS = 2 * MATMUL_SIZE ** 3


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
    precisions: tuple = ("float32",)
    rounds: int = 1
    profile: bool = False  # per-op tables of a traced forward pass and training step
    # Also measure each precision's network recomputing its first two blocks (train
    # --recompute), in a process of its own.
    recompute: bool = False

    def check(self):
        if self.model not in BENCH_VARIANTS:
            raise SettingsError(f"the benchmark covers the reference FCN variants "
                                f"{sorted(BENCH_VARIANTS)}, not {self.model!r}")
        if self.xla not in XLA_MODES:
            raise SettingsError(f"--xla must be one of {XLA_MODES}, got {self.xla!r}")
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown or not self.precisions:
            raise SettingsError(f"--precision takes one or more of {list(PRECISIONS)} "
                                f"(comma-separated), got {list(self.precisions)}")
        if self.size < 1 or self.batch < 1 or self.steps < 1 or self.warmup < 0 \
                or self.rounds < 1:
            raise SettingsError("--size, --batch, --steps and --rounds must be positive and "
                                "--warmup zero or more")
        if self.torch and importlib.util.find_spec("torch") is None:
            raise MissingDependencyError("the PyTorch comparison needs torch: pip install torch "
                                         "(the CPU build is enough)")


def configurations(options, native):
    """[(name, worker, precision, recompute)] measured each round: the natively supported
    precisions, each also recomputing with `options.recompute`."""
    runs = []
    for precision in (p for p in options.precisions if native[p][0]):
        runs.append((f"tensorflow {precision}", TF_WORKER, precision, False))
        if options.recompute:
            runs.append((f"tensorflow {precision}{RECOMPUTE_SUFFIX}", TF_WORKER, precision,
                         True))
    if options.torch:
        runs.append((TORCH, TORCH_WORKER, None, False))
    return runs


def run_round(index, runs, options, work):
    """{configuration: raw figures} of one round; every other round runs in reverse order."""
    figures = {}
    for name, worker, precision, recompute in (runs[::-1] if index % 2 else runs):
        slug = name.replace(" ", "_")
        job = {"options": asdict(options), "precision": precision, "recompute": recompute,
               "profile": options.profile and index == 0 and not recompute,
               "weights": os.path.join(work, "weights.npz"),
               "logits": os.path.join(work, f"{slug}.npy"),
               "peaks": ["float32"] + ([precision] if precision not in (None, "float32") else [])}
        figures[name] = run_job(worker, job, os.path.join(work, f"{slug}.job.json"))
        figures[name]["logits"] = np.load(job["logits"])
    return figures


def round_figures(raw, flops):
    """Seconds, peak MiB and shares of the matmul peak of each phase of one configuration
    in one round.

    A phase's share of a peak is the median over its steps of the step's
    GFLOP/s over that of the matrix product timed just before it.
    """
    figures, peaks = {}, {}
    for phase, measured in raw.items():
        if not (isinstance(measured, dict) and "s" in measured):
            continue
        figures[f"{phase}_s"], figures[f"{phase}_peak_mib"] = measured["s"], \
            measured["peak_mib"]
        rate = flops * (TRAINING_FACTOR if phase.startswith("train") else 1)
        for name, times in measured["times"].items():
            if name == "call":
                continue
            precision = name.split("_", 1)[1]
            peaks.setdefault(precision, []).extend(MATMUL_FLOPS / t / 1e9 for t in times)
            figures[f"{phase}_share_of_{precision}_peak"] = statistics.median(
                (rate / own) / (MATMUL_FLOPS / other)
                for own, other in zip(measured["times"]["call"], times))
    for precision, values in peaks.items():
        figures[f"matmul_{precision}_gflops"] = statistics.median(values)
    return with_kept_step(figures)


def with_kept_step(figures):
    """The training step is the faster of the plain and the XLA one, where both were timed."""
    kinds = [k for k in ("plain", "xla") if f"train_{k}_s" in figures]
    if not kinds:
        return figures
    kept = min(kinds, key=lambda k: figures[f"train_{k}_s"])
    prefix = f"train_{kept}_"
    return {**figures, **{"train_" + key[len(prefix):]: value for key, value in figures.items()
                          if key.startswith(prefix)}, "train_kept": kept}


def median_of(dicts):
    """The median of every numeric entry over a list of dicts with the same keys."""
    return {key: statistics.median(d[key] for d in dicts) for key in dicts[0]
            if isinstance(dicts[0][key], (int, float))}


def ratios(top, bottom, keys):
    return {key: top[key] / bottom[key] for key in keys if bottom.get(key)}


RATIO_NAMES = {"forward_s": "forward", "forward_peak_mib": "forward peak",
               "train_s": "train step", "train_peak_mib": "train peak"}
RATIO_KEYS = tuple(RATIO_NAMES)


def round_ratios(figures):
    """Ratios within one round: each TF configuration over PyTorch, float32 time over each
    other precision, and each recomputing network's training step over its plain one's."""
    out = {}
    for name in figures:
        if name == TORCH:
            continue
        if TORCH in figures:
            out[f"{name} / {TORCH}"] = ratios(figures[name], figures[TORCH], RATIO_KEYS)
        if name.endswith(RECOMPUTE_SUFFIX):
            plain = name[:-len(RECOMPUTE_SUFFIX)]
            out[f"{name} / {plain}"] = ratios(figures[name], figures[plain],
                                              ("train_s", "train_peak_mib"))
        elif name != "tensorflow float32" and "tensorflow float32" in figures:
            out[f"{name} speed-up over float32"] = ratios(
                figures["tensorflow float32"], figures[name], ("forward_s", "train_s"))
    return out


def logit_differences(raw):
    """Max |difference| of every configuration's logits from PyTorch's and float32 TF's."""
    references = [name for name in (TORCH, "tensorflow float32") if name in raw]
    if not references:
        return {}
    out = {"logit_scale": float(np.max(np.abs(raw[references[0]]["logits"])))}
    for reference in references:
        for name, figures in raw.items():
            if name not in references[:references.index(reference) + 1]:
                out[f"{name} vs {reference}"] = float(
                    np.max(np.abs(figures["logits"] - raw[reference]["logits"])))
    return out


def run_benchmark(options):
    """Figures of the TensorFlow graph per precision (and PyTorch eager with `options.torch`)."""
    options.check()
    native = {p: native_support(p) for p in options.precisions}
    runs = configurations(options, native)
    if not runs:
        raise SettingsError("nothing to time: " + "; ".join(why for _, why in native.values()))
    spec = bench_spec(options.model, options.num_classes, options.width, options.backbone)
    initial, flops = probe(spec, options.batch, options.size)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="fcn-graph-bench-") as work:
        np.savez(os.path.join(work, "weights.npz"), **randomised(initial))
        del initial
        for index in range(options.rounds):
            rounds.append(run_round(index, runs, options, work))
    return summary(options, native, flops, rounds)


def summary(options, native, flops, rounds):
    per_round = [{name: round_figures(raw, flops) for name, raw in r.items()} for r in rounds]
    results = {}
    for name in per_round[0]:
        figures = with_kept_step(median_of([r[name] for r in per_round]))
        figures["forward_gflops_per_s"] = flops / figures["forward_s"] / 1e9
        figures["train_gflops_per_s"] = TRAINING_FACTOR * flops / figures["train_s"] / 1e9
        if name != TORCH:
            precision = name.split(" ")[1]
            for phase in PHASES:
                figures[f"{phase}_share_of_own_peak"] = \
                    figures[f"{phase}_share_of_{precision}_peak"]
        results[name] = figures
    peaks = {key[len("matmul_"):-len("_gflops")]: statistics.median(
        f[key] for f in results.values() if key in f)
        for key in {k for f in results.values() for k in f if k.startswith("matmul_")}}
    report = {
        "options": asdict(options), "flops_forward": flops,
        "flops_train": TRAINING_FACTOR * flops,
        "flops_method": "analytic: convolution, deconvolution and matrix-product shapes of the "
                        f"graph, a multiply-add = 2 FLOPs, training = {TRAINING_FACTOR}x forward",
        "memory_method": PeakMemory().method + " above the resident size before the framework "
                         "built the network, in a process of its own (weights, workspace, "
                         "activations; freed heap returned before each phase)",
        "matmul_size": MATMUL_SIZE, "matmul_peak_gflops": peaks,
        "native": {p: {"native": ok, "why": why} for p, (ok, why) in native.items()},
        "results": results,
        "ratios": {key: median_of([round_ratios(r)[key] for r in per_round])
                   for key in round_ratios(per_round[0])},
        "logits": logit_differences(rounds[-1]),
        "rounds": per_round,
    }
    if TORCH in rounds[0]:
        report["torch_device"] = rounds[0][TORCH]["device"]
    profiles = {name: raw["profile"] for name, raw in rounds[0].items() if "profile" in raw}
    if profiles:
        report["profile"] = profiles
    return report


ROWS = [("forward ms", "forward_s", 1000.0, ".1f"),
        ("forward GFLOP/s", "forward_gflops_per_s", 1.0, ".1f"),
        ("forward % f32 peak", "forward_share_of_float32_peak", 100.0, ".0f"),
        ("forward % own peak", "forward_share_of_own_peak", 100.0, ".0f"),
        ("forward peak MiB", "forward_peak_mib", 1.0, ".0f"),
        ("train step ms", "train_s", 1000.0, ".1f"),
        ("train GFLOP/s", "train_gflops_per_s", 1.0, ".1f"),
        ("train % f32 peak", "train_share_of_float32_peak", 100.0, ".0f"),
        ("train % own peak", "train_share_of_own_peak", 100.0, ".0f"),
        ("train peak MiB", "train_peak_mib", 1.0, ".0f")]
TITLES = {TORCH: "PyTorch"}


def title(name):
    return TITLES.get(name, "TF " + name.split(" ", 1)[-1])


def format_report(report, top=15):
    options = report["options"]
    results = report["results"]
    lines = [f"{options['model']} ({options['backbone']}, width {options['width']}), "
             f"{options['size']}x{options['size']}, batch {options['batch']}, "
             f"{options['num_classes']} classes; {options['rounds']} round(s) of "
             f"{options['steps']} timed steps after {options['warmup']} warm-up, each framework "
             f"in its own process; medians over rounds",
             f"FLOPs: {report['flops_forward'] / 1e9:.2f} G forward, "
             f"{report['flops_train'] / 1e9:.2f} G training step ({report['flops_method']})",
             f"memory: {report['memory_method']}"]
    peaks = report["matmul_peak_gflops"]
    if peaks:
        lines.append(f"matmul peak ({report['matmul_size']}x{report['matmul_size']}, timed beside "
                     f"every step, median): " + ", ".join(f"{p} {g:.0f} GFLOP/s"
                                                          for p, g in sorted(peaks.items())))
    for precision, support in report["native"].items():
        if precision != "float32":
            verdict = "native" if support["native"] else "NOT TIMED"
            lines.append(f"{precision}: {verdict} ({support['why']})")
    lines.append("")
    width = max(16, *(len(title(name)) + 2 for name in results))
    lines.append(f"{'':<22}" + "".join(f"{title(name):>{width}}" for name in results))
    for label, key, scale, form in ROWS:
        cells = [format(scale * figures[key], form) if key in figures else "-"
                 for figures in results.values()]
        lines.append(f"{label:<22}" + "".join(f"{cell:>{width}}" for cell in cells))
    for name, figures in results.items():
        steps = [k for k in ("plain", "xla") if f"train_{k}_s" in figures]
        if steps:
            lines.append(f"{title(name)} train step: " + ", ".join(
                f"{k} {1000 * figures[f'train_{k}_s']:.1f} ms, "
                f"{figures[f'train_{k}_peak_mib']:.0f} MiB" for k in steps)
                + f" (kept: {figures['train_kept']}, the faster)")
    if report["ratios"]:
        lines.append("ratios (median over rounds of each round's ratio):")
        for pair, values in report["ratios"].items():
            left, _, right = pair.partition(" / ")
            label = (f"{title(left)} / {title(right)}" if right else
                     f"{title(pair.split(' speed-up')[0])} speed-up over TF float32")
            lines.append(f"  {label + ':':<42}" + ", ".join(
                f"{RATIO_NAMES[key]} {value:.2f}" for key, value in values.items()))
    if TORCH in results:
        lines.append(f"PyTorch ran on {report['torch_device']}; peak memory is host memory "
                     f"(resident size) only")
    logits = report["logits"]
    for pair, value in logits.items():
        if pair != "logit_scale":
            lines.append(f"max |logits {pair}| = {value:.3g} (logits up to "
                         f"{logits['logit_scale']:.3g})")
    for name, phases in report.get("profile", {}).items():
        for phase, profile in phases.items():
            lines.append("")
            lines.append(format_profile(f"profile of {title(name)} {phase}", profile["wall_s"],
                                        [tuple(row) for row in profile["ops"]], top))
    return "\n".join(lines)

