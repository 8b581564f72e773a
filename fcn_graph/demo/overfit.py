"""The single-image overfit: an FCN memorises one photo, then a dense CRF refines it.

Two presets, each a row of data:

- "tutorial" (the default), the single-image FCN-32s tutorial: FCN-32s
  from TF-slim's VGG16 checkpoint learns the cat against everything else
  (two classes) at the photo's own size, its score layer started as slim
  starts a new fc8 (Glorot-uniform), dropout on while training and off for
  the final prediction, Adam 1e-4 at a fixed rate on the summed
  cross-entropy for 10 iterations; then the tutorial's dense CRF.
- "comparison": FCN-32s and FCN-8s, the reference heads from scratch, on
  the astronaut in the 21 VOC classes at 256 pixels for 150 steps. Even on
  the image they were trained on the paper's difference shows: FCN-32s can
  only place boundaries on its 32-pixel grid and rounds every corner,
  FCN-8s follows the outline, and the CRF gains much for the first and
  little for the second.

Both train through the ordinary trainer and print each network's IoU with
and without the CRF beside a figure of the panels.
"""
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

import tensorflow as tf

from fcn_graph import crf
from fcn_graph.data import colorize, get_dataset, make_dataset
from fcn_graph.data.single_image import PHOTOS
from fcn_graph.demo.figure import panel_row
from fcn_graph.errors import UsageError
from fcn_graph.inference import Segmenter
from fcn_graph.metrics import confusion_matrix, scores
from fcn_graph.scoring import as_uint8
from fcn_graph.training import train

DATASET = "single_image"
FIGURE_SCALE = 1
TITLES = {"fcn32s": "FCN-32s", "fcn8s": "FCN-8s"}


@dataclass(frozen=True)
class Preset:
    """What the demo trains, on what and how, before the user's flags."""
    models: tuple                 # model names, trained one after the other
    photo: str
    two_class: bool               # the photo's object against everything else
    longest_side: Optional[int]   # None: the photo's own size
    steps: int
    crf: str                      # `crf.PRESETS` name
    needs_weights: bool           # its first step assumes pretrained VGG16 weights
    settings: dict = field(default_factory=dict)  # further trainer settings


PRESETS = {
    "tutorial": Preset(
        models=("fcn32s",), photo="chelsea", two_class=True, longest_side=None, steps=10,
        crf="tutorial", needs_weights=True,
        settings=dict(optimizer="adam", lr=1e-4, lr_policy="fixed", loss_normalize="sum",
                      weight_decay=0.0, dropout_rate=0.5,
                      net_options={"score_init": "glorot_uniform"})),
    # 256 pixels: a 32-pixel grid is visibly coarse, and two CPU cores take minutes.
    "comparison": Preset(
        models=("fcn32s", "fcn8s"), photo="astronaut", two_class=False, longest_side=256,
        steps=150, crf="gentle", needs_weights=False),
}
# --smoke: the chosen preset's code path on a 64-pixel photo, 1/16 wide, 2 steps.
SMOKE = {"steps": 2, "width": 1 / 16, "longest_side": 64}


@dataclass
class OverfitOptions:
    """The demo's settings; None takes the preset's (or the trainer's) value."""
    preset: str = "tutorial"
    steps: Optional[int] = None
    width: Optional[float] = None   # None: the trainer's (1.0 with weights, else narrow)
    lr: Optional[float] = None
    weights: Optional[str] = None
    out: str = "docs/overfit.png"
    run_dir: Optional[str] = None   # None: a temporary folder
    seed: int = 0
    photo: Optional[str] = None
    longest_side: Optional[int] = None  # 0: the photo's own size
    crf_options: Optional[dict] = None  # `crf.refine` keywords; None: the preset's
    smoke: bool = False

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise UsageError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.smoke:
            for name, value in SMOKE.items():
                if getattr(self, name) is None:
                    setattr(self, name, value)

    @property
    def chosen(self):
        return PRESETS[self.preset]

    def value(self, name):
        own = getattr(self, name)
        return getattr(self.chosen, name) if own is None else own


def dataset_options(options):
    """The single_image options of the photo as the options choose it."""
    photo = options.value("photo")
    longest = options.value("longest_side")
    chosen = {"photo": photo, "two_class": options.chosen.two_class}
    if longest:
        height, width = PHOTOS[photo]
        scale = longest / max(height, width)
        chosen["size"] = (round(height * scale), round(width * scale))
    return chosen


def train_settings(options, model, run_dir):
    """The trainer's settings of one network; the photo's own training defaults fill the rest
    (whole image, batch 1, nothing random)."""
    steps = options.value("steps")
    chosen = {"width": options.width, "lr": options.lr, "weights": options.weights}
    return dict(
        options.chosen.settings, model=model, dataset=DATASET,
        dataset_options=dataset_options(options), split="train", val_split="train",
        backbone="vgg16", geometry="same", max_steps=steps, log_every=1, save_every=steps,
        eval_every=steps, summary_every=steps, seed=options.seed, run_dir=run_dir,
        **{key: value for key, value in chosen.items() if value is not None})


def check_start(options):
    """Refuse the tutorial's 10 steps from random weights: they show nothing."""
    if options.chosen.needs_weights and not (options.weights or options.smoke):
        raise UsageError(f"the {options.preset} preset fine-tunes pretrained VGG16 weights; "
                         f"pass --weights vgg_16.ckpt (TF-slim's), or --smoke for a test run, "
                         f"or --preset comparison to train from scratch")


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
    """Train the preset's networks, draw the figure at `options.out`; return IoUs and wall
    time."""
    stream = stream or sys.stderr
    check_start(options)
    started = time.perf_counter()
    root = options.run_dir or tempfile.mkdtemp(prefix="fcn-graph-overfit-")
    source = get_dataset(DATASET, **dataset_options(options))
    image, label = first_example(source, "train")
    crf_options = options.crf_options
    if crf_options is None:
        crf_options = crf.PRESETS[options.chosen.crf]

    panels = [("input", image), ("ground truth", colorize(label, source.colors))]
    ious = {}

    def add_panel(title, prediction):
        ious[title] = mean_iu(label, prediction, source.num_classes, source.ignore_label)
        panels.append((f"{title}\nmean IU {ious[title]:.3f}", colorize(prediction, source.colors)))

    if not crf.available():
        print(f"skipping the CRF panels: {crf.INSTALL_HINT}", file=stream)
    for model in options.chosen.models:
        title = TITLES[model]
        run_dir = os.path.join(root, model)
        print(f"--- {title}: {options.value('steps')} steps on the photo", file=stream)
        train(train_settings(options, model, run_dir), stream=stream)
        with Segmenter(run_dir) as segmenter:
            prediction, probabilities = segmenter.segment(image)
        add_panel(title, prediction)
        if crf.available():
            add_panel(f"{title} + CRF", crf.refine(image, probabilities, **crf_options).argmax(-1))

    os.makedirs(os.path.dirname(os.path.abspath(options.out)), exist_ok=True)
    panel_row(panels, scale=FIGURE_SCALE).save(options.out)
    wall = time.perf_counter() - started
    for title, value in ious.items():
        print(f"{title:<14} mean IU {value:.4f}", file=stream)
    print(f"figure: {options.out}   wall time {wall:.0f} s", file=stream)
    return {"ious": ious, "wall_time": wall, "figure": options.out, "run_dir": root}
