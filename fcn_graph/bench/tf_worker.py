"""One TensorFlow measurement in a process of its own: `python -m fcn_graph.bench.tf_worker JOB`.

Above the resident size before the network is built: the forward pass and
each training step (plain, XLA) timed with their peak memory, each step
beside a matrix product per precision the job names (the machine's peak
under the same load), then optionally a traced run of each for the
per-op profile. The logits of the forward pass are saved for the runner.
"""
import gc
import sys

import numpy as np

from fcn_graph.bench.inputs import random_batch
from fcn_graph.bench.jobs import worker_main
from fcn_graph.bench.measure import measure_phase, release_freed_memory, resident_bytes
from fcn_graph.bench.peak import MatmulPeak
from fcn_graph.bench.tf_net import TFBench, bench_spec

STEP_KINDS = {"off": ("plain",), "on": ("xla",), "auto": ("plain", "xla")}


def measure(job):
    options = job["options"]
    images, labels = random_batch(options["batch"], options["size"], options["num_classes"])
    peaks = {f"matmul_{p}": MatmulPeak(p) for p in job["peaks"]}
    release_freed_memory()
    baseline = resident_bytes()
    spec = bench_spec(options["model"], options["num_classes"], options["width"],
                      options["backbone"], job["precision"])
    # A recomputing network is a memory choice, timed with the plain step only.
    kinds = ("plain",) if job["recompute"] else STEP_KINDS[options["xla"]]
    bench = TFBench(spec, options["batch"], options["size"], xla_step="xla" in kinds,
                    recompute=job["recompute"])
    try:
        with np.load(job["weights"]) as weights:
            bench.load(dict(weights))
        gc.collect()
        np.save(job["logits"], bench.forward(images))
        steps, warmup = options["steps"], options["warmup"]
        result = {"forward": measure_phase(lambda: bench.forward(images), steps, warmup,
                                           baseline, peaks)}
        for kind in kinds:
            result[f"train_{kind}"] = measure_phase(
                bench.step_call(images, labels, kind), steps, warmup, baseline, peaks)
        if job["profile"]:
            result["profile"] = {phase: {"wall_s": wall, "ops": rows} for phase, (wall, rows)
                                 in bench.profiles(images, labels).items()}
    finally:
        bench.close()
        for peak in peaks.values():
            peak.close()
    return result


if __name__ == "__main__":
    sys.exit(worker_main(measure))
