"""Peak memory of whole-image and tiled inference; the cost of test-time augmentation and the
rate of batches; TFLite against SavedModel latency.

Writes a run directory holding FCN-8s (VGG16, reference geometry, full
width, 19 classes) with random weights, then runs the command line on it
in fresh processes, so each figure is what `fcn-graph infer` and
`fcn-graph export` print for that mode:

    python scripts/measure_large_images.py --out /tmp/measure
    python scripts/measure_large_images.py --out /tmp/measure --size 1024x512 --width 0.25

Random weights give the memory and the time of trained ones.
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np
import tensorflow as tf
from PIL import Image

from fcn_graph.models import ModelSpec, build
from fcn_graph.rundir import RunRecord, checkpoint_dir, write_record

v1 = tf.compat.v1
CLASSES = 19


def random_run(run_dir, width):
    """A run directory whose checkpoint holds FCN-8s with its initial (random) weights."""
    spec = ModelSpec(name="fcn8s", num_classes=CLASSES, geometry="caffe", width=width)
    graph = tf.Graph()
    with graph.as_default():
        build(spec, v1.placeholder(tf.float32, [1, None, None, 3]))
        initialize = v1.global_variables_initializer()
        saver = v1.train.Saver()
    os.makedirs(checkpoint_dir(run_dir))
    with v1.Session(graph=graph) as sess:
        sess.run(initialize)
        saver.save(sess, os.path.join(checkpoint_dir(run_dir), "model.ckpt"), global_step=0)
    palette = np.random.default_rng(0).integers(0, 256, (CLASSES, 3))
    write_record(run_dir, RunRecord(model=spec, class_names=tuple(f"class{i}" for i in
                                                                  range(CLASSES)),
                                    colors=tuple(map(tuple, palette.tolist()))))


def fcn_graph(*args):
    """Run `fcn-graph ARGS` in a fresh process; returns what it printed."""
    done = subprocess.run([sys.executable, "-m", "fcn_graph.cli", *map(str, args)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"fcn-graph {args[0]} failed:\n{done.stderr}")
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the run and the outputs")
    parser.add_argument("--size", default="1024x2048", help="HEIGHTxWIDTH of the large image")
    parser.add_argument("--tile", default="512x512", help="tile size of the tiled mode")
    parser.add_argument("--overlap", default="128", help="tile overlap in pixels")
    parser.add_argument("--width", type=float, default=1.0, help="VGG channel scale")
    parser.add_argument("--latency-size", default="500x500",
                        help="HEIGHTxWIDTH of the images timed with augmentation, in batches "
                             "and in SavedModel and TFLite")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="images per batch, timed on three batches against one image at "
                             "a time")
    args = parser.parse_args()
    run_dir = os.path.join(args.out, "run")
    if os.path.exists(run_dir):
        sys.exit(f"{run_dir} already exists; choose another --out")
    random_run(run_dir, args.width)
    rng = np.random.default_rng(0)
    folders = {"large": (args.size, 1), "latency": (args.latency_size, 1),
               "batch": (args.latency_size, 3 * args.batch_size)}
    for name, (size, count) in folders.items():
        height, width = (int(side) for side in size.split("x"))
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
        for index in range(count):
            Image.fromarray(rng.integers(0, 256, (height, width, 3), np.uint8)).save(
                os.path.join(args.out, name, f"{name}{index}.png"))
    large = os.path.join(args.out, "large", "large0.png")
    for mode, flags in (("whole", []), ("tiled", ["--tile", args.tile,
                                                   "--overlap", args.overlap])):
        printed = fcn_graph("infer", "--checkpoint", run_dir, large,
                            "--out", os.path.join(args.out, mode), *flags)
        memory = re.search(r"peak memory .*", printed).group(0)
        seconds = re.search(r"in ([\d.]+) ms", printed).group(1)
        print(f"{mode} {args.size}: {float(seconds) / 1000:.1f} s, {memory}")
    latency = os.path.join(args.out, "latency", "latency0.png")
    for mode, flags in (("plain", []), ("augmented", ["--scales", "0.5,0.75,1,1.25,1.5",
                                                       "--flip"])):
        printed = fcn_graph("infer", "--checkpoint", run_dir, latency,
                            "--out", os.path.join(args.out, mode), *flags)
        print(f"{mode} {args.latency_size}: {printed.splitlines()[0].split(' in ')[-1]}")
    for batch in (1, args.batch_size):
        printed = fcn_graph("infer", "--checkpoint", run_dir, os.path.join(args.out, "batch"),
                            "--out", os.path.join(args.out, f"batch{batch}"),
                            "--batch-size", batch)
        print(re.search(r".* ms per image", printed).group(0))
    printed = fcn_graph("export", "--checkpoint", run_dir,
                        "--tflite", os.path.join(args.out, "fcn8s.tflite"),
                        "--calibration-data", os.path.join(args.out, "latency"),
                        "--parity-images", "1")
    print("\n".join(line for line in printed.splitlines()
                    if line.startswith(("latency", "TFLite"))))


if __name__ == "__main__":
    main()
