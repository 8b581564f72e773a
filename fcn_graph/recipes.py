"""Replication and tutorial recipes as data, and the one runner every script calls.

A recipe is the settings of a full run, the overrides of its `--smoke`
mode (tiny sizes and a few steps: the same code path, only smaller), an
optional `--adam` variant, the stage it starts from and the published
numbers to print beside ours at every evaluation. A script in `scripts/`
names its recipe and calls `main`.

A recipe's settings are the base layer of `fcn_graph.training.resolve`:
flags the user gives on the script's command line override them, and a
resumed run's recorded settings come before them, so `--resume` continues
the run as it was started.
"""
import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Optional, Tuple

from fcn_graph.data import parse_options
from fcn_graph.errors import FcnGraphError, UsageError
from fcn_graph.evaluation import evaluate_weights
from fcn_graph.scoring import SUMMARY_ROWS, json_ready, summary_line
from fcn_graph.training import train
from fcn_graph.training.config import argument_type


@dataclass(frozen=True)
class Target:
    """Published scores (percent) of the network a recipe reproduces."""
    source: str
    scores: dict


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    config: dict                       # settings (TrainConfig fields) of the full run
    smoke: dict                        # overrides for --smoke
    targets: Tuple[Target, ...] = ()
    adam: Optional[dict] = None        # overrides for --adam (normalised loss)
    variants: dict = field(default_factory=dict)  # --flag -> overrides (e.g. --skips)
    previous: Optional[str] = None     # recipe whose run this one is initialised from
    needs_start: bool = False          # the full run needs --weights or --init-from


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
TINY_CROP = dict(SMOKE, crop_size=32, batch_size=2)

CVPR = "CVPR 2015 Table 2 (seg11valid)"
PAMI = "PAMI released model (seg11valid)"
REPLICATION = "PyTorch replication from VGG16 (seg11valid)"


def voc_stage(name, model, lr, steps, cvpr, pami, replication, previous=None, adam_lr=1e-4):
    targets = ((Target(CVPR, dict(zip(("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu"),
                                      cvpr))),) if cvpr else ())
    targets += (Target(PAMI, {"mean_iu": pami}), Target(REPLICATION, {"mean_iu": replication}))
    return Recipe(
        name=name,
        summary=f"{model} on SBD train / seg11valid, the reference solver "
                f"({'from ' + previous if previous else 'from ImageNet VGG16'})",
        config=dict(VOC_REFERENCE, model=model, lr=lr, max_steps=steps),
        smoke=dict(SMOKE), targets=targets, adam=dict(VOC_ADAM, lr=adam_lr),
        previous=previous, needs_start=True)


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
                "Adam 1e-3 decayed polynomially to 0 over 30 epochs",
        # 2975 training images in batches of 10: 298 steps an epoch, 30 epochs.
        config=dict(model="simple_fcn", dataset="cityscapes",
                    dataset_options={"classes": 7, "size": (160, 384)}, split="train",
                    val_split="val", width=1.0, batch_size=10, crop_size=None, augment=False,
                    optimizer="adam", lr=1e-3, lr_policy="poly", lr_power=1.0,
                    loss_normalize="mean", weight_decay=0.0, max_steps=30 * 298,
                    eval_every=298, save_every=298, log_every=50),
        smoke=dict(SMOKE, width=0.25, batch_size=2,
                   dataset_options={"classes": 7, "size": (32, 64)}),
        variants={"skips": {"model": "simple_fcn_skips"}}),
    Recipe(
        name="kitti_road_fcn8s",
        summary="VGG16 FCN-8s separating road from background on KITTI road, Adam 1e-4",
        config=dict(model="fcn8s", dataset="kitti", split="train", val_split="val",
                    backbone="vgg16", geometry="same", width=1.0, batch_size=4,
                    crop_size=(352, 1216), augment=True, optimizer="adam", lr=1e-4,
                    lr_policy="fixed", loss_normalize="mean", weight_decay=0.0,
                    max_steps=6000, eval_every=500, save_every=500, log_every=50),
        smoke=dict(TINY_CROP), needs_start=True),
    Recipe(
        name="cityscapes_fcn8s",
        summary="VGG16 FCN-8s on the 19 Cityscapes benchmark classes",
        targets=(Target("Cityscapes test, FCN-8s (unverified)", {"mean_iu": 65.3}),),
        config=dict(model="fcn8s", dataset="cityscapes",
                    dataset_options={"classes": 19, "size": (512, 1024)}, split="train",
                    val_split="val", backbone="vgg16", geometry="same", width=1.0,
                    # Scale augmentation changes the size; the crop restores it for batching.
                    batch_size=2, crop_size=(512, 1024), augment=True, optimizer="adam", lr=1e-4,
                    lr_policy="poly", loss_normalize="mean", weight_decay=0.0,
                    max_steps=80_000, eval_every=4000, save_every=4000, log_every=100),
        smoke=dict(SMOKE, batch_size=2, crop_size=(32, 64),
                   dataset_options={"classes": 19, "size": (32, 64)}),
        needs_start=True),
    Recipe(
        name="ade20k_fcn8s_vgg19",
        summary="FCN-8s on a VGG19 backbone (MatConvNet or TF-slim file), ADE20K's 150 classes",
        targets=(Target("MIT Scene Parsing, FCN-8s (unverified)",
                        {"pixel_accuracy": 71.32, "mean_iu": 29.39}),),
        config=dict(model="fcn8s", dataset="ade20k", split="train", val_split="val",
                    backbone="vgg19", geometry="same", width=1.0, batch_size=1,
                    crop_size=384, augment=True, optimizer="adam", lr=1e-4,
                    lr_policy="poly", loss_normalize="mean", weight_decay=0.0,
                    max_steps=160_000, eval_every=8000, save_every=4000, log_every=100),
        smoke=dict(TINY_CROP), needs_start=True),
    Recipe(
        name="unet_multiclass",
        summary="a U-Net for multi-class street scenes: softmax, categorical cross-entropy, "
                "mean IoU",
        config=dict(model="unet", dataset="synthetic", split="train", val_split="val",
                    width=0.5, batch_size=4, crop_size=128, augment=True, optimizer="adam",
                    lr=1e-3, lr_policy="poly", loss_normalize="mean", weight_decay=0.0,
                    max_steps=4000, eval_every=500, save_every=500, log_every=50),
        smoke=dict(TINY_CROP, width=1 / 16)),
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
    if spec.adam:
        parser.add_argument("--adam", action="store_true",
                            help="Adam on a mean-normalised loss instead of the reference SGD")
    for flag in spec.variants:
        parser.add_argument(f"--{flag}", action="store_true",
                            help=f"variant: {', '.join(f'{k}={v}' for k, v in spec.variants[flag].items())}")
    return parser


def settings_for(spec, args):
    """(base, overrides): the recipe's settings as the script's switches select them, and the
    settings the user gave explicitly."""
    base = dict(spec.config)
    if getattr(args, "adam", False):
        base.update(spec.adam)
    for flag, overrides in spec.variants.items():
        if getattr(args, flag):
            base.update(overrides)
    if args.smoke:
        base.update(spec.smoke)
    init_from = getattr(args, "init_from", None)
    if spec.needs_start and not args.smoke and not (args.weights or init_from or args.resume):
        start = f"--init-from (the {spec.previous} run) or " if spec.previous else ""
        raise UsageError(f"{spec.name}: the full run starts from pretrained weights; pass "
                         f"{start}--weights PATH (or --smoke for a test run)")
    base["run_dir"] = f"runs/{spec.name}"
    overrides = {"resume": args.resume}
    if args.dataset is not None and args.dataset != base["dataset"]:
        overrides.update(dataset=args.dataset, dataset_options={})
    if args.dataset_option:
        current = overrides.get("dataset_options", base.get("dataset_options", {}))
        overrides["dataset_options"] = dict(current, **parse_options(args.dataset_option))
    given = {"max_steps": args.max_steps, "tfrecords": args.tfrecords,
             "val_tfrecords": args.val_tfrecords, "data_dir": args.data_dir,
             "weights": args.weights, "init_from": init_from, "run_dir": args.out}
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
