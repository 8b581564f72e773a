"""Replication and tutorial recipes as data, and the one runner every script calls.

A recipe is the settings of a full run, the overrides of its `--smoke`
mode (tiny sizes and a few steps: the same code path, only smaller), its
switches (flags that choose between named sets of settings: a tutorial's
system by default, the reference alternative one flag away), the stage it
starts from and the published numbers to print beside ours at every
evaluation. A script in `scripts/` names its recipe and calls `main`.

A recipe's settings are the base layer of `fcn_graph.training.resolve`:
flags the user gives on the script's command line override them, and a
resumed run's recorded settings come before them, so `--resume` continues
the run as it was started.
"""
import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from fcn_graph.data import parse_options
from fcn_graph.errors import FcnGraphError, UsageError
from fcn_graph.evaluation import evaluate_weights
from fcn_graph.scoring import (PER_IMAGE_MEAN_IU_NAN_AS_ZERO, SUMMARY_ROWS, json_ready,
                               summary_line)
from fcn_graph.training import train
from fcn_graph.training.config import argument_type
from fcn_graph.weights.savedmodel import is_saved_model


@dataclass(frozen=True)
class Target:
    """Published scores (percent) of the network a recipe reproduces."""
    source: str
    scores: dict


@dataclass(frozen=True)
class Switch:
    """A script flag choosing one of named sets of settings; the first choice is the recipe's
    own (a tutorial's), the others its alternatives. Choices False and True make an on/off
    flag."""
    flag: str
    help: str
    choices: Mapping  # choice -> the settings it sets

    @property
    def is_toggle(self):
        return tuple(self.choices) == (False, True)

    @property
    def dest(self):
        return self.flag.replace("-", "_")

    def add_to(self, parser):
        if self.is_toggle:
            parser.add_argument(f"--{self.flag}", action="store_true", help=self.help)
            return
        names = [str(choice) for choice in self.choices]
        parser.add_argument(f"--{self.flag}", choices=names, default=names[0],
                            help=f"{self.help} (default %(default)s)")

    def settings(self, args):
        chosen = getattr(args, self.dest)
        return next(value for choice, value in self.choices.items() if str(choice) == str(chosen))


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    config: dict                       # settings (TrainConfig fields) of the full run
    smoke: dict                        # overrides for --smoke
    targets: Tuple[Target, ...] = ()
    switches: Tuple[Switch, ...] = ()
    previous: Optional[str] = None     # recipe whose run this one is initialised from
    needs_start: bool = False          # the full run needs --weights or --init-from
    # The input convention (weights_channel_order, weights_mean) of the tutorial's
    # SavedModel, which records none: applied to a --weights SavedModel unless
    # --channel-order or --mean is given.
    saved_model_convention: Optional[dict] = None
    tutorial_miou: bool = False        # offer --tutorial-miou (the tutorial's per-batch metric)


def merged(settings, overrides):
    """`settings` with `overrides` applied; dict-valued settings (net_options,
    dataset_options) merge key by key."""
    result = dict(settings)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            value = {**result[key], **value}
        result[key] = value
    return result


def steps(epochs, images, batch_size):
    """Updates of `epochs` passes over `images` in batches of `batch_size`."""
    return math.ceil(epochs * images / batch_size)


# Reference solver (voc-fcn*/solver.prototxt): batch 1 at native size, summed
# loss, momentum 0.99, weight decay 5e-4, biases at twice the rate, test on
# seg11valid every 4000 iterations; the rate shrinks as each stage adds a skip.
VOC_REFERENCE = dict(
    dataset="sbd", split="train", val_split="val", backbone="vgg16", geometry="caffe",
    width=1.0, batch_size=1, crop_size=None, augment=False, optimizer="sgd",
    momentum=0.99, weight_decay=5e-4, loss_normalize="sum", lr_policy="fixed",
    eval_every=4000, save_every=4000, summary_every=100, log_every=100)
# Adam is invariant to the loss scale: a mean-normalised loss and ordinary rates.
VOC_ADAM = dict(optimizer="adam", loss_normalize="mean", weight_decay=0.0, bias_lr_mult=1.0,
                lr_policy="poly")
# Fixtures are a handful of 32-64 px images: a 1/16-wide backbone, two steps.
SMOKE = dict(width=1 / 16, max_steps=2, eval_every=1, save_every=1, summary_every=1,
             log_every=1, eval_images=2, seed=0)
# The tutorials' mean pixel (ImageNet), as R, G, B.
TUTORIAL_RGB_MEAN = (123.68, 116.779, 103.939)
# Adam at a fixed rate on the mean cross-entropy, no weight decay: the tutorials' solver.
TUTORIAL_ADAM = dict(optimizer="adam", lr_policy="fixed", loss_normalize="mean",
                     weight_decay=0.0)

CVPR = "CVPR 2015 Table 2 (seg11valid)"
PAMI = "PAMI released model (seg11valid)"
REPLICATION = "PyTorch replication from VGG16 (seg11valid)"


def voc_stage(name, model, lr, max_steps, cvpr, pami, replication, previous=None,
              adam_lr=1e-4):
    targets = ((Target(CVPR, dict(zip(("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu"),
                                      cvpr))),) if cvpr else ())
    targets += (Target(PAMI, {"mean_iu": pami}), Target(REPLICATION, {"mean_iu": replication}))
    adam = Switch("adam", "Adam on a mean-normalised loss instead of the reference SGD",
                  {False: {}, True: dict(VOC_ADAM, lr=adam_lr)})
    return Recipe(
        name=name,
        summary=f"{model} on SBD train / seg11valid, the reference solver "
                f"({'from ' + previous if previous else 'from ImageNet VGG16'})",
        config=dict(VOC_REFERENCE, model=model, lr=lr, max_steps=max_steps),
        smoke=dict(SMOKE), targets=targets, switches=(adam,),
        previous=previous, needs_start=True)


# The road-scene FCN-8s tutorial (VGG16 on KITTI road and Cityscapes): the direct-sum
# head, Adam 1e-4 on the mean loss, batches of 20 without augmentation, OpenCV's plain
# bilinear resize. Resizing its colour labels bilinearly before matching their colours
# exactly is a bug, which --label-resize bilinear reproduces.
ROAD_SCENES_HEAD = Switch(
    "head", "FCN-8s head: direct (each score upsampled to the input, summed 1:2:4, the "
            "tutorial's) or reference (the paper's coarse-to-fine fusion)",
    {"direct": {"model": "fcn8s-direct"}, "reference": {"model": "fcn8s"}})
ROAD_SCENES_LABELS = Switch(
    "label-resize", "label resize: nearest (correct) or bilinear (the tutorial's bug: colours "
                    "blended at class boundaries match no class, and those pixels, like "
                    "unlabelled ones, train as class 0)",
    {"nearest": {"dataset_options": {"label_resize": "nearest"}},
     "bilinear": {"dataset_options": {"label_resize": "bilinear"}}})
ROAD_SCENES = dict(TUTORIAL_ADAM, split="train", val_split="val", backbone="vgg16",
                   geometry="same", width=1.0, batch_size=20, crop_size=None, augment=False,
                   lr=1e-4)
# KITTI road: 289 training images, a tenth held out (every tenth by name here).
KITTI_TRAIN_IMAGES = 289 - 29
CITYSCAPES_TRAIN_IMAGES = 2975


def road_scenes(name, summary, dataset, dataset_options, epochs, images):
    epoch = steps(1, images, ROAD_SCENES["batch_size"])
    return Recipe(
        name=name, summary=summary,
        config=dict(ROAD_SCENES, dataset=dataset,
                    dataset_options=dict(dataset_options, image_resize="bilinear"),
                    max_steps=steps(epochs, images, ROAD_SCENES["batch_size"]),
                    eval_every=epoch, save_every=50 * epoch, log_every=epoch),
        smoke=dict(SMOKE, batch_size=2, dataset_options={"size": (32, 64)}),
        switches=(ROAD_SCENES_HEAD, ROAD_SCENES_LABELS), needs_start=True,
        saved_model_convention={"weights_channel_order": "BGR",
                                "weights_mean": TUTORIAL_RGB_MEAN})


RECIPES = {r.name: r for r in (
    voc_stage("voc_fcn32s", "fcn32s", 1e-10, 100_000, (89.1, 73.3, 59.4, 81.4), 63.6, 62.84),
    voc_stage("voc_fcn16s", "fcn16s", 1e-12, 100_000, (90.0, 75.7, 62.4, 83.0), 65.0, 64.91,
              previous="voc_fcn32s", adam_lr=1e-5),
    voc_stage("voc_fcn8s", "fcn8s", 1e-14, 100_000, (90.3, 75.9, 62.7, 83.2), 65.5, 65.49,
              previous="voc_fcn16s", adam_lr=1e-5),
    voc_stage("voc_fcn8s_atonce", "fcn8s-atonce", 1e-10, 300_000, None, 65.4, 64.74),
    Recipe(
        name="cityscapes7_simple_fcn",
        summary="the tutorial's small FCN on Cityscapes grouped into 7 classes at 384x160, "
                "Adam 1e-3 decayed linearly to 0 over 30 epochs, graph seed 31415",
        config=dict(model="simple_fcn", dataset="cityscapes",
                    dataset_options={"classes": 7, "size": (160, 384)}, split="train",
                    val_split="val", width=1.0, batch_size=10, crop_size=None, augment=False,
                    optimizer="adam", lr=1e-3, lr_policy="poly", lr_power=1.0,
                    loss_normalize="mean", weight_decay=0.0,
                    max_steps=steps(30, CITYSCAPES_TRAIN_IMAGES, 10),
                    eval_every=steps(1, CITYSCAPES_TRAIN_IMAGES, 10),
                    save_every=steps(1, CITYSCAPES_TRAIN_IMAGES, 10), log_every=50, seed=31415),
        smoke=dict(SMOKE, width=0.25, batch_size=2, dataset_options={"size": (32, 64)},
                   seed=31415),
        switches=(
            Switch("skips", "the tutorial's second model: resize 2x, concatenate the encoder "
                            "features, 3x3 convolution, level by level up to half resolution",
                   {False: {}, True: {"model": "simple_fcn_skips",
                                      "net_options": {"skip_stem": False}}}),
            Switch("upsampling", "upsampling: resize (TF1 resize_bilinear, the tutorial's) or "
                                 "deconv (bilinear transposed convolutions)",
                   {"resize": {"net_options": {"upsampling": "resize"}},
                    "deconv": {"net_options": {"upsampling": "deconv"}}}),
            Switch("initializer", "convolution initialiser: glorot_uniform (tf.layers' "
                                  "default, the tutorial's) or he",
                   {"glorot_uniform": {"net_options": {"initializer": "glorot_uniform"}},
                    "he": {"net_options": {"initializer": "he"}}}))),
    road_scenes("kitti_road_fcn8s",
                "the tutorial's VGG16 FCN-8s separating road from background on KITTI road at "
                "576x160, Adam 1e-4, batches of 20, 500 epochs",
                "kitti", {"size": (160, 576), "val_fraction": 0.1}, 500, KITTI_TRAIN_IMAGES),
    road_scenes("cityscapes_fcn8s",
                "the tutorial's VGG16 FCN-8s on the 29 colour classes of Cityscapes at 512x256, "
                "Adam 1e-4, batches of 20, 150 epochs",
                "cityscapes", {"classes": 29, "size": (256, 512)}, 150,
                CITYSCAPES_TRAIN_IMAGES),
    Recipe(
        name="ade20k_fcn8s_vgg19",
        summary="the tutorial's VGG19 FCN with feature-space fusion on ADE20K's 151 classes "
                "('other' kept), images and labels resized to 224x224 (nearest)",
        config=dict(TUTORIAL_ADAM, dataset="ade20k",
                    dataset_options={"size": 224, "image_resize": "nearest"}, split="train",
                    val_split="val", backbone="vgg19", geometry="same", width=1.0,
                    batch_size=2, crop_size=None, augment=False, lr=1e-4, max_steps=200_000,
                    eval_every=10_000, save_every=5000, log_every=100),
        smoke=dict(SMOKE, batch_size=2, dataset_options={"size": 32}),
        switches=(
            Switch("head", "decoder: features (the pooled features added in feature space, "
                           "the tutorial's) or reference (the paper's FCN-8s, in class space)",
                   {"features": {"model": "fcn8s-features"}, "reference": {"model": "fcn8s"}}),
            Switch("classes", "151 (label 0, 'other', trained as a class: the tutorial's) or "
                              "150 (the benchmark's: 'other' ignored)",
                   {"151": {"dataset_options": {"keep_other": True}},
                    "150": {"dataset_options": {"keep_other": False}}}),
            Switch("matconvnet-swap-hw", "reproduce the tutorial's bug: MatConvNet kernels "
                                         "transposed (1, 0, 2, 3), height and width swapped",
                   {False: {"matconvnet_swap_hw": False}, True: {"matconvnet_swap_hw": True}})),
        needs_start=True),
    Recipe(
        name="unet_multiclass",
        summary="the TensorFlow example's U-Net for multi-class street scenes at 256x256: "
                "softmax, categorical cross-entropy, Adam 1e-3, batches of 3, 100 epochs",
        # 80 labelled photos for training in batches of 3.
        config=dict(TUTORIAL_ADAM, model="unet", dataset="folder",
                    dataset_options={"size": (256, 256), "image_resize": "bilinear"},
                    split="train", val_split="val", width=1.0, batch_size=3, crop_size=None,
                    # The example's augmentation: flips, hue +-0.1, shifts up to a tenth.
                    augment={"flip": True, "scale_range": (1.0, 1.0), "hue_delta": 0.1,
                             "max_shift": 0.1}, lr=1e-3,
                    max_steps=steps(100, 80, 3), eval_every=steps(1, 80, 3),
                    save_every=steps(10, 80, 3), log_every=steps(1, 80, 3)),
        smoke=dict(SMOKE, batch_size=2, dataset_options={"size": (32, 32)}),
        switches=(
            Switch("net", "U-Net: tf_example (the TensorFlow example's, with batch norm) or "
                          "paper (Ronneberger et al.)",
                   {"tf_example": {"net_options": {"style": "tf_example"}},
                    "paper": {"net_options": {"style": "paper"}}}),
            Switch("shift-fill", "the border a random shift brings in: ignore (correct: left "
                                 "out of the loss) or zero (the example's bug: black pixels "
                                 "trained as background)",
                   {"ignore": {"augment": {"shift_fill": "ignore"}},
                    "zero": {"augment": {"shift_fill": "zero"}}}),),
        tutorial_miou=True),
)}


def recipe(name):
    if name not in RECIPES:
        raise UsageError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def comparison(result, targets, step=None):
    """Our scores beside every published target that reports the same metrics."""
    head = f"step {step}: " if step is not None else ""
    lines = [f"{head}ours: {summary_line(result)}"]
    for target in targets:
        theirs = "  ".join(f"{label} {target.scores[key]:.1f}" for key, _, label in SUMMARY_ROWS
                           if key in target.scores)
        lines.append(f"{' ' * len(head)}{target.source}: {theirs}")
    return "\n".join(lines)


def parser_for(spec):
    parser = argparse.ArgumentParser(
        prog=spec.name, description=spec.summary,
        epilog="Expected data layout, time and published numbers: scripts/README.md")
    parser.add_argument("--data-dir", help="dataset root (see scripts/README.md for the layout)")
    parser.add_argument("--weights", help="pretrained backbone file (Caffe, caffe-tensorflow "
                                          "npy, MatConvNet, TF-slim, Keras or npz)")
    if spec.previous:
        parser.add_argument("--init-from", help=f"run directory or checkpoint of {spec.previous} "
                                                "(the previous stage)")
    parser.add_argument("--out", help=f"run directory (default runs/{spec.name})")
    parser.add_argument("--dataset", help=f"dataset source (default {spec.config['dataset']}; "
                                          f"`fcn-graph data list`)")
    parser.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                        help="source option, repeatable (e.g. size=384x160)")
    parser.add_argument("--tfrecords", help="train from these TFRecord shards (a glob written by "
                                            "`fcn-graph data to-tfrecord`)")
    parser.add_argument("--val-tfrecords", help="validate on these TFRecord shards (a glob)")
    parser.add_argument("--smoke", action="store_true",
                        help="a few steps at tiny sizes through the same code path")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--max-steps", type=argument_type("max_steps"),
                        help="override the recipe's step count")
    parser.add_argument("--channel-order", type=argument_type("weights_channel_order"),
                        help="channel order the --weights were trained on (for files that do "
                             "not record it)")
    parser.add_argument("--mean", type=argument_type("weights_mean"), metavar="R,G,B",
                        help="mean pixel the --weights were trained with, as R,G,B")
    for switch in spec.switches:
        switch.add_to(parser)
    if spec.tutorial_miou:
        parser.add_argument("--tutorial-miou", action="store_true",
                            help="also print the tutorial's mean IoU (per validation image, a "
                                 "class absent from both counting 0) beside the reference one")
    return parser


def settings_for(spec, args):
    """(base, overrides): the recipe's settings as the script's switches select them, and the
    settings the user gave explicitly."""
    base = dict(spec.config)
    for switch in spec.switches:
        base = merged(base, switch.settings(args))
    if args.smoke:
        base = merged(base, spec.smoke)
    init_from = getattr(args, "init_from", None)
    if spec.needs_start and not args.smoke and not (args.weights or init_from or args.resume):
        start = f"--init-from (the {spec.previous} run) or " if spec.previous else ""
        raise UsageError(f"{spec.name}: the full run starts from pretrained weights; pass "
                         f"{start}--weights PATH (or --smoke for a test run)")
    if spec.saved_model_convention and args.weights and is_saved_model(args.weights):
        base.update(spec.saved_model_convention)
    base["run_dir"] = f"runs/{spec.name}"
    overrides = {"resume": args.resume}
    if args.dataset is not None and args.dataset != base["dataset"]:
        overrides.update(dataset=args.dataset, dataset_options={})
    if args.dataset_option:
        current = overrides.get("dataset_options", base.get("dataset_options", {}))
        overrides["dataset_options"] = dict(current, **parse_options(args.dataset_option))
    given = {"max_steps": args.max_steps, "tfrecords": args.tfrecords,
             "val_tfrecords": args.val_tfrecords, "data_dir": args.data_dir,
             "weights": args.weights, "init_from": init_from, "run_dir": args.out,
             "weights_channel_order": args.channel_order, "weights_mean": args.mean}
    overrides.update({key: value for key, value in given.items() if value is not None})
    return base, overrides


def main(name, argv=None, stream=None):
    """Run recipe `name` with command-line `argv`; return the trainer's result dict."""
    spec = recipe(name)
    args = parser_for(spec).parse_args(argv)
    base, overrides = settings_for(spec, args)
    stream = stream or sys.stderr

    def beside_targets(step, scores):
        print(comparison(scores, spec.targets, step), file=stream)
        if getattr(args, "tutorial_miou", False):
            print(f"{' ' * len(f'step {step}: ')}the tutorial's mean IoU (per image, absent "
                  f"classes as 0): {100 * scores[PER_IMAGE_MEAN_IU_NAN_AS_ZERO]:.1f}", file=stream)

    result = train(overrides, stream=stream, on_evaluation=beside_targets, base=base)
    print(f"run directory: {result['run_dir']}", file=stream)
    return result


def evaluate_released(argv=None, stream=None):
    """Score a released FCN caffemodel on seg11valid beside the paper's number for it."""
    expected = {f"voc_{m.replace('-', '_')}": m for m in ("fcn32s", "fcn16s", "fcn8s", "fcn8s-atonce")}
    parser = argparse.ArgumentParser(
        prog="voc_eval_caffe_model",
        description="Evaluate a released FCN .caffemodel on seg11valid (expected mean IU: "
                    "FCN-32s 63.6, FCN-16s 65.0, FCN-8s 65.5, FCN-8s at-once 65.4).")
    parser.add_argument("--model", required=True, choices=sorted(expected.values()))
    parser.add_argument("--weights", required=True, help="the released .caffemodel")
    parser.add_argument("--data-dir", help="root holding VOCdevkit/ (and SBD for the split)")
    parser.add_argument("--out", help="write the scores as JSON here")
    parser.add_argument("--smoke", action="store_true", help="score only the first 2 images")
    parser.add_argument("--crf", action="store_true", help="also score CRF-refined output")
    args = parser.parse_args(argv)
    stream = stream or sys.stderr
    recipe_name = next(r for r, m in expected.items() if m == args.model)
    result = evaluate_weights(args.weights, args.model, "sbd", args.data_dir, split="val",
                              crf=True if args.crf else None,
                              max_images=2 if args.smoke else None)
    print(comparison(result, RECIPES[recipe_name].targets), file=stream)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(json_ready(result), f, indent=2)
    return result


def as_script(entry, *args):
    """Run a script's entry point; a user error ends it with one line, not a traceback.

    Returns the exit status for `sys.exit`.
    """
    try:
        entry(*args)
    except FcnGraphError as err:
        print(f"{os.path.basename(sys.argv[0])}: error: {' '.join(str(err).split())}",
              file=sys.stderr)
        return err.exit_status
    return 0
