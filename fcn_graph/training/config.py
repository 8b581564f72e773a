"""What a training run is: `TrainConfig`, its defaults, and the one place they are resolved.

Every field is a setting with its group (model, data, solver, run), its
default and its check stated once, in the field's metadata; the `train`
command generates its flags from them. A field left unset takes, in order
of precedence: the caller's value, the run's stored value (when resuming),
the recipe's value, the dataset's training defaults, a value derived from
other settings, the field's default. Derived values follow the optimizer
and the starting point:

- Adam (the default): mean-normalised loss, polynomial decay, lr 1e-3 from
  scratch or 1e-4 when starting from pretrained weights, no weight decay.
  Adam is invariant to the scale of the loss, so the reference's tiny
  rates do not carry over.
- Momentum SGD (the reference): summed loss, fixed lr (1e-10 FCN-32s,
  1e-12 FCN-16s, 1e-14 FCN-8s, 1e-10 FCN-8s at-once), momentum 0.99,
  weight decay 5e-4 on weights only, biases at twice the learning rate.
"""
import argparse
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from fcn_graph.distributed.spec import TASK_PATTERN
from fcn_graph.errors import SettingsError
from fcn_graph.models import model_names
from fcn_graph.precision import PRECISIONS
from fcn_graph.vgg import GEOMETRIES, REPEATS

GROUPS = ("model", "data", "solver", "run")
OPTIMIZERS = ("adam", "sgd")
LR_POLICIES = ("fixed", "poly")
LOSS_NORMALIZATIONS = ("mean", "sum")

# Reference fixed learning rates of momentum SGD on a summed loss.
REFERENCE_SGD_LR = {"fcn32s": 1e-10, "fcn16s": 1e-12, "fcn8s": 1e-14, "fcn8s-atonce": 1e-10}
ADAM_LR_FROM_SCRATCH = 1e-3
ADAM_LR_PRETRAINED = 1e-4
RECIPES = {
    "adam": {"lr_policy": "poly", "loss_normalize": "mean", "weight_decay": 0.0,
             "bias_lr_mult": 1.0},
    "sgd": {"lr_policy": "fixed", "loss_normalize": "sum", "weight_decay": 5e-4,
            "bias_lr_mult": 2.0},
}
# A network trained from scratch is cheap and narrow by default; pretrained
# VGG weights need the full width.
SCRATCH_WIDTH = 0.25


class Unset:
    """The value of a field nobody set; resolution replaces it."""

    def __repr__(self):
        return "unset"

    def __bool__(self):
        return False


UNSET = Unset()


# ---- value checks, shared by the command line (at parse time) and resolve() ----

@dataclass(frozen=True)
class Check:
    """A predicate on a setting's value and the words that say what it must be."""
    holds: Callable[[Any], bool]
    must_be: str
    options: tuple = ()  # the allowed values, when they can be listed

    def __call__(self, flag, value):
        if value is not None and not self.holds(value):
            raise SettingsError(f"{flag} must be {self.must_be}, got {value!r}")


def at_least(minimum):
    return Check(lambda v: v >= minimum, f"at least {minimum}")


POSITIVE = Check(lambda v: v > 0, "positive")
NON_NEGATIVE = Check(lambda v: v >= 0, "zero or more")
DROPOUT = Check(lambda v: 0 <= v < 1, "in [0, 1)")
XLA_MODES = ("auto", "on", "off")
# Runs recorded before --xla took a mode stored true or false (on or off).
XLA = Check(lambda v: isinstance(v, bool) or v in XLA_MODES, "auto, on or off", XLA_MODES)
TASK = Check(lambda v: TASK_PATTERN.match(v) is not None, "ROLE:INDEX, e.g. worker:0")
CROP = Check(lambda v: all(c >= 1 for c in ((v,) if isinstance(v, int) else v)),
             "N or WIDTHxHEIGHT with sides of at least 1 pixel")


def choice_of(options):
    options = tuple(options)
    return Check(lambda v: v in options, f"one of {', '.join(options)}", options)


def parse_crop_size(text):
    """'96' -> 96; '384x160' (width x height, as dataset sizes) -> (160, 384); 'none' -> whole images."""
    if text.lower() == "none":
        return None
    try:
        values = [int(p) for p in text.lower().split("x")]
    except ValueError:
        values = []
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return values[1], values[0]
    raise argparse.ArgumentTypeError(f"crop size {text!r} is N or WIDTHxHEIGHT, e.g. 96 or 384x160")


def parse_rgb_mean(text):
    """'R,G,B' -> (R, G, B) floats."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give three comma-separated numbers, "
                                         f"R,G,B (e.g. 123.68,116.779,103.939)")
    return values


def parse_all_or_int(text):
    return None if text.lower() in ("none", "0", "all") else int(text)


def setting(group, help, default=None, *, derived=None, check=None, parse=None, flag=None,
            fixed_on_resume=False, metavar=None, per_process=False):
    """A TrainConfig field: unset until resolved.

    `derived` says in words how an unset value follows from other settings
    (then `default` is unused); `parse` turns command-line text into the
    value (`bool` makes an on/off flag); `fixed_on_resume` refuses a value
    that differs from the run's stored one; `per_process` settings describe
    one process of a run (its place in a cluster) and are not recorded.
    """
    return field(default=UNSET, metadata=dict(
        group=group, help=help, default=default, derived=derived, check=check, parse=parse,
        flag=flag, fixed_on_resume=fixed_on_resume, metavar=metavar, per_process=per_process))


@dataclass
class TrainConfig:
    # ---- model: what network
    model: str = setting("model", "network", "fcn8s", check=choice_of(model_names()),
                         parse=str, fixed_on_resume=True)
    num_classes: Optional[int] = setting("model", "classes scored", derived="the dataset's",
                                         check=at_least(1), parse=int, fixed_on_resume=True)
    backbone: str = setting("model", "VGG depth of the FCN variants", "vgg16",
                            check=choice_of(sorted(REPEATS)), parse=str, fixed_on_resume=True)
    geometry: str = setting("model", "'same' (any size, nothing to crop) or 'caffe' (the "
                                     "reference: pad 100 and crops)", "same",
                            check=choice_of(GEOMETRIES), parse=str, fixed_on_resume=True)
    width: float = setting("model", "backbone channel scale",
                           derived=f"1.0 with --weights, else {SCRATCH_WIDTH}",
                           check=POSITIVE, parse=float, fixed_on_resume=True)
    learn_upsampling: Optional[bool] = setting(
        "model", "train the bilinear deconvolutions", parse=bool, fixed_on_resume=True,
        derived="the network's: fixed in the reference heads, learned in the tutorials'")
    dropout_rate: Optional[float] = setting(
        "model", "dropout rate", derived="the network's: 0.5 after fc6 and fc7",
        check=DROPOUT, parse=float, fixed_on_resume=True)
    net_options: dict = setting("model", "further options of the chosen network's builder "
                                         "(the tutorials' variants)", {}, fixed_on_resume=True)
    # ---- data: on what
    dataset: str = setting("data", "dataset name; see `fcn-graph data list`", "synthetic",
                           parse=str, fixed_on_resume=True)
    data_dir: Optional[str] = setting("data", "where the dataset lives", None, parse=str)
    dataset_options: dict = setting("data", "source option, e.g. size=128x128 or num_train=400 "
                                            "(repeatable)", {}, flag="dataset-option",
                                    metavar="KEY=VALUE", fixed_on_resume=True)
    split: str = setting("data", "training split", "train", parse=str, fixed_on_resume=True)
    val_split: str = setting("data", "validation split", "val", parse=str)
    tfrecords: Optional[str] = setting("data", "train from these TFRecord shards (a glob written "
                                               "by `fcn-graph data to-tfrecord`); the dataset "
                                               "still names the classes", None, parse=str)
    val_tfrecords: Optional[str] = setting("data", "validate on these TFRecord shards (a glob)",
                                           None, parse=str)
    crop_size: Any = setting("data", "train on N x N (or WIDTHxHEIGHT) crops; 'none' trains on "
                                     "whole images", 96, check=CROP, parse=parse_crop_size,
                             fixed_on_resume=True)
    augment: Optional[bool] = setting("data", "random flips and scales of training images",
                                      None, parse=bool, fixed_on_resume=True)
    batch_size: int = setting("data", "images per batch (>1 needs one size)", 4,
                              check=at_least(1), parse=int, fixed_on_resume=True)
    accumulate: int = setting("data", "batches whose gradients are averaged per update", 1,
                              check=at_least(1), parse=int, fixed_on_resume=True)
    skip_bad_examples: bool = setting("data", "log and skip training examples whose image or "
                                              "label cannot be read, instead of stopping",
                                      False, parse=bool)
    # ---- solver: from where and how
    weights: Optional[str] = setting("solver", "pretrained backbone file (caffemodel, npy, mat, "
                                               "npz, h5, TF ckpt)", None, parse=str)
    weights_channel_order: Optional[str] = setting(
        "solver", "channel order the --weights were trained on; required for files that do "
                  "not record it (SavedModels, non-slim checkpoints)", None,
        check=choice_of(("RGB", "BGR")), parse=str.upper, flag="channel-order")
    weights_mean: Optional[tuple] = setting(
        "solver", "mean pixel the --weights were trained with, as R,G,B whatever the channel "
                  "order; required with --channel-order for such files", None,
        parse=parse_rgb_mean, flag="mean", metavar="R,G,B")
    matconvnet_swap_hw: bool = setting(
        "solver", "transpose MatConvNet kernels (1, 0, 2, 3) as some ports do (wrong for the "
                  "published .mat files; reproduces those ports)", False, parse=bool)
    init_from: Optional[str] = setting("solver", "previous-stage run directory or checkpoint "
                                                 "(e.g. FCN-32s for FCN-16s)", None, parse=str)
    optimizer: str = setting("solver", "adam or sgd; see above", "adam",
                             check=choice_of(OPTIMIZERS), parse=str, fixed_on_resume=True)
    lr: float = setting("solver", "learning rate", derived="per recipe, see above",
                        check=POSITIVE, parse=float)
    lr_policy: str = setting("solver", "learning-rate policy", derived="poly with adam, fixed "
                                                                      "with sgd",
                             check=choice_of(LR_POLICIES), parse=str)
    lr_power: float = setting("solver", "exponent of the poly policy", 0.9, check=POSITIVE,
                              parse=float)
    momentum: float = setting("solver", "SGD momentum (the reference's)", 0.99,
                              check=NON_NEGATIVE, parse=float)
    weight_decay: float = setting("solver", "L2 on weights, never biases",
                                  derived="sgd 5e-4, adam 0", check=NON_NEGATIVE, parse=float)
    bias_lr_mult: float = setting("solver", "bias learning-rate multiplier, sgd only",
                                  derived="sgd 2, adam 1", check=POSITIVE, parse=float)
    loss_normalize: str = setting("solver", "loss normalisation", derived="mean with adam, sum "
                                                                         "with sgd",
                                  check=choice_of(LOSS_NORMALIZATIONS), parse=str,
                                  fixed_on_resume=True)
    class_weights: Any = setting(
        "solver", "weigh each pixel's loss by its class: median-frequency or inverse-sqrt (from "
                  "the training split's labels) or W1,W2,... one per class; the run records "
                  "the resolved list", None, parse=str, metavar="METHOD|W1,W2,...")
    max_steps: int = setting("solver", "updates to train for", 600, check=at_least(1),
                             parse=int)
    # ---- run: bookkeeping and execution
    run_dir: Optional[str] = setting("run", "output directory",
                                     derived="runs/<model>-<dataset>-<time>", parse=str)
    resume: bool = setting("run", "continue the run in --run-dir from its latest checkpoint, "
                                  "with its config.json", False, parse=bool)
    save_every: int = setting("run", "checkpoint every N steps and at the end", 200,
                              check=at_least(1), parse=int)
    keep_checkpoints: int = setting("run", "checkpoints kept", 3, check=at_least(1), parse=int)
    keep_best: bool = setting("run", "also keep the checkpoint of the best validation mean IU "
                                     "(checkpoints/best/, named in config.json); eval, infer "
                                     "and export then use it", False, parse=bool)
    eval_every: int = setting("run", "validate every N steps and at the end", 200,
                              check=at_least(1), parse=int)
    eval_images: Optional[int] = setting("run", "validation images used ('all' for all)", None,
                                         check=at_least(1), parse=parse_all_or_int)
    summary_every: int = setting("run", "TensorBoard scalars every N steps", 20,
                                 check=at_least(1), parse=int)
    image_summaries: int = setting("run", "validation images shown in TensorBoard", 3,
                                   check=NON_NEGATIVE, parse=int)
    histograms: bool = setting("run", "weight and gradient histograms", False, parse=bool)
    log_every: int = setting("run", "progress line every N steps when not on a terminal", 50,
                             check=at_least(1), parse=int)
    seed: Optional[int] = setting("run", "seed of data order, augmentation and initialisation",
                                  derived="drawn at random and recorded", check=NON_NEGATIVE,
                                  parse=int, fixed_on_resume=True)
    deterministic: bool = setting("run", "TensorFlow op determinism (identical losses for one "
                                         "seed)", False, parse=bool)
    towers: Optional[int] = setting("run", "split each batch over N data-parallel towers, one "
                                           "per GPU", derived="every visible GPU",
                                    check=at_least(1), parse=int)
    cluster: Optional[str] = setting(
        "run", "train as one task of this cluster: ROLE=HOST:PORT,... with roles chief, worker "
               "and ps, one entry per task (or TF_CONFIG's JSON 'cluster'); needs --task",
        derived="the TF_CONFIG variable's; neither: one machine", parse=str, per_process=True)
    task: Optional[str] = setting("run", "this process's task in --cluster, ROLE:INDEX, e.g. "
                                         "worker:0", derived="TF_CONFIG's", check=TASK, parse=str,
                                  per_process=True)
    asynchronous: bool = setting("run", "on a cluster, apply each worker's update as it comes "
                                        "instead of combining every worker's gradients per step",
                                 False, parse=bool, flag="async")
    intra_threads: int = setting("run", "threads inside one op (0: all cores)", 0,
                                 check=NON_NEGATIVE, parse=int)
    inter_threads: int = setting("run", "ops run in parallel (0: TensorFlow's choice)", 0,
                                 check=NON_NEGATIVE, parse=int)
    xla: Any = setting("run", "compile the graph with XLA; auto times a few updates each way "
                              "on this run's graph first and keeps the faster (see "
                              "training.xla_choice)", "auto", check=XLA, parse=str.lower)
    recompute: bool = setting("run", "recompute the first two VGG blocks during backprop instead "
                                     "of keeping their activations (FCNs on a VGG backbone): "
                                     "less memory for more time, the same updates", False,
                              parse=bool)
    precision: str = setting("run", "compute precision of the convolutions (variables, loss and "
                                    "metrics stay float32): bfloat16 on CPUs with AVX512_BF16 "
                                    "or AMX, mixed_float16 (dynamic loss scaling) on GPUs",
                             "float32", check=choice_of(PRECISIONS), parse=str,
                             fixed_on_resume=True)

    @property
    def pretrained(self):
        return bool(self.weights or self.init_from)

    @property
    def images_per_step(self):
        return self.batch_size * self.accumulate

    def given(self):
        """The fields that were set, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not UNSET}

    def to_settings(self):
        """A JSON-ready dict of every field (tuples become lists)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in self.given().items()
                if not FIELDS[name].metadata["per_process"]}


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def flag_name(name):
    """The command-line flag of setting `name`, without its dashes."""
    return FIELDS[name].metadata["flag"] or name.replace("_", "-")


def argument_type(name):
    """An argparse type for setting `name`: its parser, then its check, so a bad number is a
    usage error at parse time."""
    metadata = FIELDS[name].metadata
    return checked_argument(metadata["parse"], metadata["check"], f"--{flag_name(name)}")


def checked_argument(parse, check, flag):
    """An argparse type: `parse` the text, then `check` the value (None: no check)."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid value ({err})") from err
        try:
            if check is not None:
                check(flag, value)
        except SettingsError as err:
            raise argparse.ArgumentTypeError(str(err)) from err
        return value
    convert.__name__ = flag.lstrip("-")
    return convert


def as_settings(values):
    """The settings chosen in a TrainConfig or dict (a stored record may hold other keys)."""
    if values is None:
        return {}
    if isinstance(values, TrainConfig):
        values = values.given()
    # None is no choice for a setting that is otherwise derived: leave it to the derivation.
    settings = {k: v for k, v in values.items() if k in FIELDS and v is not UNSET
                and not (v is None and FIELDS[k].metadata["derived"])}
    for name in ("crop_size", "weights_mean"):
        if isinstance(settings.get(name), list):
            settings[name] = tuple(settings[name])
    return settings


def derived_value(name, settings):
    """The value of unset field `name` that follows from the other (resolved) settings."""
    optimizer = settings["optimizer"]
    if name in RECIPES[optimizer]:
        return RECIPES[optimizer][name]
    if name == "width":
        return 1.0 if settings.get("weights") else SCRATCH_WIDTH
    if name == "lr":
        if optimizer == "adam":
            pretrained = settings.get("weights") or settings.get("init_from")
            return ADAM_LR_PRETRAINED if pretrained else ADAM_LR_FROM_SCRATCH
        if settings["model"] not in REFERENCE_SGD_LR:
            raise SettingsError(f"momentum SGD has no reference learning rate for "
                                f"{settings['model']!r}; give one with --lr")
        return REFERENCE_SGD_LR[settings["model"]]
    # num_classes (the dataset's), run_dir and seed (a new run's identity), towers (the GPUs),
    # cluster and task (TF_CONFIG, read when the run starts).
    return None


def check_resume_agrees(overrides, stored):
    """Refuse a setting that contradicts the run being resumed, naming both values."""
    for name, value in overrides.items():
        if FIELDS[name].metadata["fixed_on_resume"] and name in stored \
                and as_json(value) != as_json(stored[name]):
            raise SettingsError(
                f"--{flag_name(name)} {value!r} contradicts the resumed run's recorded "
                f"{name} {stored[name]!r}; drop the flag to resume, or train a new run in "
                f"another --run-dir")


def resolve(overrides, stored=None, source=None, base=None):
    """The complete TrainConfig of a run: every setting filled in and checked.

    `overrides` (a TrainConfig or dict) are the caller's explicit choices;
    `stored` the settings recorded by the run being resumed; `source` the
    dataset (class or instance) whose `training_defaults` apply and, for an
    instance, whose class count fills `num_classes`; `base` a recipe's
    settings. Pure: no clock, no randomness, no file access; a new run's
    seed and directory are drawn by `new_run_identity`.
    """
    overrides, stored, base = as_settings(overrides), as_settings(stored), as_settings(base)
    if stored:
        check_resume_agrees(overrides, stored)
    source_defaults = as_settings(getattr(source, "training_defaults", None))
    layered = {**source_defaults, **base, **stored, **overrides}
    settings = {}
    for name in FIELDS:  # dependencies (optimizer, model, weights) precede what they decide
        if name in layered:
            settings[name] = layered[name]
        elif FIELDS[name].metadata["derived"] is None:
            settings[name] = default_copy(FIELDS[name].metadata["default"])
    if getattr(source, "class_names", None) and settings.get("num_classes") is None:
        settings["num_classes"] = len(source.class_names)
    for name in ("model", "optimizer"):
        checked(name, settings[name])
    for name in FIELDS:
        if name not in settings:
            settings[name] = derived_value(name, settings)
        checked(name, settings[name])
    config = TrainConfig(**settings)
    check_combination(config, source)
    return config


def as_json(value):
    """`value` as it reads back from config.json (tuples become lists)."""
    return json.loads(json.dumps(value))


def default_copy(value):
    return dict(value) if isinstance(value, dict) else value


def checked(name, value):
    check = FIELDS[name].metadata["check"]
    if check is not None:
        check(f"--{flag_name(name)}", value)


def check_combination(config, source):
    if config.optimizer == "adam" and config.bias_lr_mult != 1.0:
        raise SettingsError("--bias-lr-mult is applied by scaling the bias gradients, which Adam "
                            "normalises away; use it with --optimizer sgd")
    names = getattr(source, "class_names", None)
    if names and config.num_classes != len(names):
        raise SettingsError(f"--num-classes {config.num_classes} but dataset {config.dataset!r} "
                            f"has {len(names)} classes; leave --num-classes unset")


def new_run_identity(config, clock=time.localtime, rng=None):
    """A new run's seed (drawn, then recorded) and directory (named by model, dataset, time)."""
    seed = config.seed
    if seed is None:
        seed = (rng or random.SystemRandom()).randrange(2 ** 31)
    run_dir = config.run_dir or os.path.join(
        "runs", f"{config.model}-{config.dataset}-{time.strftime('%Y%m%d-%H%M%S', clock())}")
    return dataclasses.replace(config, seed=seed, run_dir=run_dir)
