"""Builders shared by the tests, exposed to them through conftest.py fixtures.

`make_run` writes what `fcn-graph train` leaves behind (config.json through
the real RunRecord writer and a Saver checkpoint under checkpoints/) for a
narrow network with random weights, so evaluation, inference and export
are tested without training. `run_command` runs one `fcn-graph`
sub-command as the command line does.
"""
import os

import numpy as np
import tensorflow as tf

from fcn_graph.cli import main as cli_main
from fcn_graph.convention import REFERENCE_CONVENTION
from fcn_graph.data import get_dataset
from fcn_graph.models import ModelSpec, build
from fcn_graph.rundir import RunRecord, checkpoint_dir, write_record

v1 = tf.compat.v1

SYNTHETIC_OPTIONS = {"size": (24, 32), "num_train": 1, "num_val": 3}
SYNTHETIC_CLASSES = 6

# Two float32 runs of one network that differ only in batch size, tiling or graph (session,
# SavedModel, frozen graph) round differently: oneDNN chooses its convolution algorithm by batch
# size and by the CPU's instruction set. They were measured up to 3.3e-5 apart in probability
# (oneDNN limited to AVX2); a fault in batching, padding or cropping shows as more than 1e-3.
FLOAT32_RUNS_AGREE = 2e-4


def he_random(shape, rng):
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 100
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)


def make_run(run_dir, data_dir, model="fcn8s", geometry="caffe", width=1 / 16, seed=0,
             options=None):
    """A run directory whose checkpoint holds random He-scaled weights (score layers included).

    Returns the RunRecord written to its config.json.
    """
    source = get_dataset("synthetic", str(data_dir), **SYNTHETIC_OPTIONS)
    spec = ModelSpec(name=model, num_classes=SYNTHETIC_CLASSES, geometry=geometry, width=width,
                     convention=REFERENCE_CONVENTION, options=options or {})
    record = RunRecord(
        model=spec, settings={"model": model, "dataset": "synthetic", "data_dir": str(data_dir),
                              "dataset_options": dict(SYNTHETIC_OPTIONS,
                                                      size=list(SYNTHETIC_OPTIONS["size"]))},
        class_names=tuple(source.class_names), colors=tuple(map(tuple, source.colors)),
        ignore_label=source.ignore_label)
    graph = tf.Graph()
    with graph.as_default():
        build(spec, v1.placeholder(tf.float32, [1, None, None, 3]))
        # Fixed bilinear deconvolutions keep their initial values, as in training.
        randomised = [v for v in v1.global_variables() if "upscore" not in v.op.name]
        feeds = [v1.placeholder(tf.float32, v.shape) for v in randomised]
        assign = tf.group(*[v.assign(p) for v, p in zip(randomised, feeds)])
        init = v1.global_variables_initializer()
        saver = v1.train.Saver()
    rng = np.random.default_rng(seed)
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(assign, {p: he_random(p.shape.as_list(), rng) for p in feeds})
        os.makedirs(checkpoint_dir(run_dir))
        saver.save(sess, os.path.join(checkpoint_dir(run_dir), "model.ckpt"), global_step=1)
    write_record(run_dir, record)
    return record


def run_command(argv):
    """Run `fcn-graph ARGV...` in this process, as the command line does; returns the exit status."""
    return cli_main([str(a) for a in argv])


def assert_same_prediction(labels, probabilities, expected_labels, expected_probabilities):
    """Probabilities agree to float32 rounding; labels agree wherever rounding cannot swap them."""
    np.testing.assert_allclose(probabilities, expected_probabilities, rtol=0,
                               atol=FLOAT32_RUNS_AGREE)
    best_two = np.sort(expected_probabilities, axis=-1)[..., -2:]
    decided = best_two[..., 1] - best_two[..., 0] > 2 * FLOAT32_RUNS_AGREE
    assert decided.mean() > 0.9, "too few pixels with a clear best class to compare labels"
    np.testing.assert_array_equal(np.asarray(labels)[decided],
                                  np.asarray(expected_labels)[decided])
