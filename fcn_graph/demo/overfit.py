"""The tutorials' single-image overfit: FCN-32s against FCN-8s, then a dense CRF.

Both networks memorise the shipped photo through the ordinary trainer, and
even on the image they were trained on the difference of the paper shows:
FCN-32s can only place boundaries on its 32-pixel grid and rounds every
corner and narrow part of the silhouette, FCN-8s follows the outline much
more closely, and a dense CRF snaps each network's boundaries to the colour
edges of the photo: a large gain for the coarse FCN-32s, a small change for
FCN-8s, which is already close.
"""
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

import tensorflow as tf

from fcn_graph import crf
from fcn_graph.data import colorize, get_dataset, make_dataset
from fcn_graph.data.single_image import PHOTOS
from fcn_graph.demo.figure import panel_row
from fcn_graph.inference import Segmenter
from fcn_graph.metrics import confusion_matrix, scores
from fcn_graph.scoring import as_uint8
from fcn_graph.training import train

MODELS = (("fcn32s", "FCN-32s"), ("fcn8s", "FCN-8s"))
DATASET = "single_image"
FIGURE_SCALE = 1
# Longest side of the photo as trained: large enough that a 32-pixel grid is
# visibly coarse, small enough for a few minutes on two CPU cores.
LONGEST_SIDE = 256
# A gentler bilateral term than the usual DeepLab settings (80/13/10): the
# networks' probabilities are confident, and a strong pull erodes the thin
# parts of the silhouette along weak colour edges.
CRF_OPTIONS = {"bilateral_sxy": 40, "bilateral_srgb": 13, "bilateral_compat": 3}


@dataclass
class OverfitOptions:
    steps: int = 150
    width: Optional[float] = None   # None: the trainer's (1.0 with weights, else narrow)
    lr: Optional[float] = None      # None: the trainer's Adam default for the start point
    weights: Optional[str] = None
    out: str = "docs/overfit.png"
    run_dir: Optional[str] = None   # None: a temporary folder
    seed: int = 0
    photo: str = "astronaut"
    longest_side: Optional[int] = LONGEST_SIDE  # None: the photo's own size


def dataset_options(options):
    height, width = PHOTOS[options.photo]
    scale = (options.longest_side or max(height, width)) / max(height, width)
    return {"photo": options.photo, "size": (round(height * scale), round(width * scale))}


def train_settings(options, model, run_dir):
    """The trainer's settings of one network; the photo's own training defaults fill the rest
    (whole image, batch 1, nothing random)."""
    chosen = {"width": options.width, "lr": options.lr, "weights": options.weights}
    return dict(
        model=model, dataset=DATASET, dataset_options=dataset_options(options),
        split="train", val_split="train", backbone="vgg16", geometry="same",
        optimizer="adam", max_steps=options.steps, log_every=1, save_every=options.steps,
        eval_every=options.steps, summary_every=options.steps, seed=options.seed,
        run_dir=run_dir, **{key: value for key, value in chosen.items() if value is not None})


def first_example(source, split):
    """(image uint8 HxWx3, label HxW) exactly as the trainer's input pipeline delivers them."""
    with tf.Graph().as_default():
        batches = make_dataset(source, split, batch_size=1, shuffle=False, repeat=False)
        batch = tf.compat.v1.data.make_one_shot_iterator(batches).get_next()
        with tf.compat.v1.Session() as sess:
            example = sess.run({"image": batch["image"], "label": batch["label"]})
    return as_uint8(example["image"][0]), example["label"][0]


def mean_iu(label, prediction, num_classes, ignore_label):
    return scores(confusion_matrix(label, prediction, num_classes, ignore_label))["mean_iu"]


def overfit(options, stream=None):
    """Train both networks, draw the figure at `options.out`; return IoUs and wall time."""
    stream = stream or sys.stderr
    started = time.perf_counter()
    root = options.run_dir or tempfile.mkdtemp(prefix="fcn-graph-overfit-")
    source = get_dataset(DATASET, **dataset_options(options))
    image, label = first_example(source, "train")

    panels = [("input", image), ("ground truth", colorize(label, source.colors))]
    ious = {}

    def add_panel(title, prediction):
        ious[title] = mean_iu(label, prediction, source.num_classes, source.ignore_label)
        panels.append((f"{title}\nmean IU {ious[title]:.3f}", colorize(prediction, source.colors)))

    if not crf.available():
        print(f"skipping the CRF panels: {crf.INSTALL_HINT}", file=stream)
    for model, title in MODELS:
        run_dir = os.path.join(root, model)
        print(f"--- {title}: {options.steps} steps on the photo", file=stream)
        train(train_settings(options, model, run_dir), stream=stream)
        with Segmenter(run_dir) as segmenter:
            prediction, probabilities = segmenter.segment(image)
        add_panel(title, prediction)
        if crf.available():
            add_panel(f"{title} + CRF", crf.refine(image, probabilities, **CRF_OPTIONS).argmax(-1))

    os.makedirs(os.path.dirname(os.path.abspath(options.out)), exist_ok=True)
    panel_row(panels, scale=FIGURE_SCALE).save(options.out)
    wall = time.perf_counter() - started
    for title, value in ious.items():
        print(f"{title:<14} mean IU {value:.4f}", file=stream)
    print(f"figure: {options.out}   wall time {wall:.0f} s", file=stream)
    return {"ious": ious, "wall_time": wall, "figure": options.out, "run_dir": root}
