"""The PyTorch measurement in a process of its own: `python -m fcn_graph.bench.torch_worker JOB`.

The same phases as the TensorFlow worker, above the resident size before
the network takes its weights: the forward pass and the training step,
timed with their peak memory; the logits are saved for the runner.
"""
import gc
import sys

import numpy as np

from fcn_graph.bench.inputs import random_batch
from fcn_graph.bench.jobs import worker_main
from fcn_graph.bench.measure import measure_phase, release_freed_memory, resident_bytes
from fcn_graph.bench.torch_net import TorchFCN


def measure(job):
    options = job["options"]
    images, labels = random_batch(options["batch"], options["size"], options["num_classes"])
    release_freed_memory()
    baseline = resident_bytes()
    with np.load(job["weights"]) as weights:
        net = TorchFCN(options["model"], options["backbone"], dict(weights))
    gc.collect()
    np.save(job["logits"], net.logits_nhwc(images))
    steps, warmup = options["steps"], options["warmup"]
    return {"device": net.device,
            "forward": measure_phase(net.forward_call(images), steps, warmup, baseline),
            "train": measure_phase(net.step_call(images, labels), steps, warmup, baseline)}


if __name__ == "__main__":
    sys.exit(worker_main(measure))
