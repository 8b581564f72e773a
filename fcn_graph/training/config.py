"""What a training run is: `TrainConfig`, its defaults, and the run's `config.json`.

Fields left at None are resolved from the optimizer and the starting
point, so one dataclass serves both recipes:

- Adam (the default): mean-normalised loss, polynomial decay, lr 1e-3 from
  scratch or 1e-4 when starting from pretrained weights, no weight decay.
  Adam is invariant to the scale of the loss, so the reference's tiny
  rates do not carry over.
- Momentum SGD (the reference): summed loss, fixed lr (1e-10 FCN-32s,
  1e-12 FCN-16s, 1e-14 FCN-8s, 1e-10 FCN-8s at-once), momentum 0.99,
  weight decay 5e-4 on weights only, biases at twice the learning rate.

`config.json` in the run directory holds the resolved configuration plus
everything needed to rebuild the model without the dataset: class names,
colours, ignore label and the input convention of the weights.
"""
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Optional

from fcn_graph.fcn import VARIANTS
from fcn_graph.models import model_names

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
OPTIMIZERS = ("adam", "sgd")
LR_POLICIES = ("fixed", "poly")

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


@dataclass
class TrainConfig:
    # What to train
    model: str = "fcn8s"
    num_classes: Optional[int] = None          # None: the dataset's
    backbone: str = "vgg16"
    geometry: str = "same"
    width: Optional[float] = None              # None: 1.0 with --weights, else 0.25
    learn_upsampling: bool = False
    dropout_rate: float = 0.5
    # On what
    dataset: str = "synthetic"
    data_dir: Optional[str] = None
    dataset_options: dict = field(default_factory=dict)
    split: str = "train"
    val_split: str = "val"
    tfrecords: Optional[str] = None            # glob of `fcn-graph data to-tfrecord` shards
    val_tfrecords: Optional[str] = None        # the same for validation
    crop_size: Optional[int] = 96
    augment: Optional[bool] = None             # None: the pipeline's default
    batch_size: int = 4
    accumulate: int = 1                        # images per update = batch_size * accumulate
    # Starting point
    weights: Optional[str] = None              # pretrained backbone file
    init_from: Optional[str] = None            # previous-stage checkpoint (staged training)
    # How
    optimizer: str = "adam"
    lr: Optional[float] = None
    lr_policy: Optional[str] = None
    lr_power: float = 0.9
    momentum: float = 0.99
    weight_decay: Optional[float] = None
    bias_lr_mult: Optional[float] = None
    loss_normalize: Optional[str] = None
    max_steps: int = 600
    # Bookkeeping
    run_dir: Optional[str] = None              # None: runs/<model>-<dataset>-<time>
    resume: bool = False
    save_every: int = 200
    keep_checkpoints: int = 3
    eval_every: int = 200
    eval_images: Optional[int] = None          # None: the whole validation split
    summary_every: int = 20
    image_summaries: int = 3
    histograms: bool = False
    log_every: int = 50
    # Execution
    seed: Optional[int] = None                 # None: drawn at random and recorded
    deterministic: bool = False
    towers: Optional[int] = None               # data-parallel towers; None: one per GPU
    intra_threads: int = 0                     # 0: TensorFlow's choice
    inter_threads: int = 0
    # Measured on 2 CPU cores, FCN-8s at 224x224: 97 vs 144 ms/step (width 0.25),
    # 2.7 vs 4.4 s/step (width 1).
    xla: bool = True

    @property
    def pretrained(self):
        return bool(self.weights or self.init_from)

    @property
    def images_per_step(self):
        return self.batch_size * self.accumulate

    def resolved(self):
        """A copy with every None default filled in and every choice checked."""
        c = dataclasses.replace(self, dataset_options=dict(self.dataset_options))
        if c.model not in model_names():
            raise ValueError(f"unknown model {c.model!r}; choose one of {model_names()}")
        if c.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {c.optimizer!r}; choose one of {OPTIMIZERS}")
        for name, value in RECIPES[c.optimizer].items():
            if getattr(c, name) is None:
                setattr(c, name, value)
        if c.lr is None:
            c.lr = default_lr(c)
        if c.width is None:
            c.width = 1.0 if c.weights else SCRATCH_WIDTH
        if c.lr_policy not in LR_POLICIES:
            raise ValueError(f"unknown lr policy {c.lr_policy!r}; choose one of {LR_POLICIES}")
        if c.optimizer == "adam" and c.bias_lr_mult != 1.0:
            raise ValueError("bias_lr_mult is applied by scaling the bias gradients, which Adam "
                             "normalises away; use it with --optimizer sgd")
        for name in ("batch_size", "accumulate", "max_steps", "save_every", "eval_every",
                     "summary_every", "log_every", "keep_checkpoints"):
            if getattr(c, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(c, name)}")
        if c.seed is None:
            # Recorded in config.json, so a resumed run replays the same data order.
            c.seed = random.SystemRandom().randrange(2 ** 31)
        if c.run_dir is None:
            c.run_dir = os.path.join("runs", f"{c.model}-{c.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
        return c


def default_lr(config):
    if config.optimizer == "adam":
        return ADAM_LR_PRETRAINED if config.pretrained else ADAM_LR_FROM_SCRATCH
    if config.model not in REFERENCE_SGD_LR:
        raise ValueError(f"momentum SGD has no reference learning rate for {config.model!r}; "
                         "give one with --lr")
    return REFERENCE_SGD_LR[config.model]


def model_options(config):
    """Builder options of `fcn_graph.models.build_model` for this configuration."""
    if config.model in VARIANTS:
        return {"backbone": config.backbone, "geometry": config.geometry, "width": config.width,
                "learn_upsampling": config.learn_upsampling, "dropout_rate": config.dropout_rate}
    return {"width": config.width}


def run_record(config, source, num_classes, channel_order, mean):
    """The contents of `config.json`: the resolved config and what rebuilding the model needs."""
    record = dataclasses.asdict(config)
    record.update(
        num_classes=num_classes,
        class_names=list(source.class_names),
        colors=[list(map(int, c)) for c in source.colors],
        ignore_label=int(source.ignore_label),
        channel_order=channel_order,
        mean=[float(m) for m in mean],
        model_options=model_options(config),
    )
    return record


def write_run_config(run_dir, record):
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CONFIG_FILE)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(temporary, path)
    return path


def find_run_dir(path):
    """The run directory of a run dir, its checkpoints dir or a checkpoint prefix inside it."""
    candidate = os.path.abspath(os.path.expanduser(path))
    for _ in range(3):
        if os.path.isfile(os.path.join(candidate, CONFIG_FILE)):
            return candidate
        candidate = os.path.dirname(candidate)
    raise FileNotFoundError(f"no {CONFIG_FILE} found at or above {path}; pass the directory "
                            "that `fcn-graph train --run-dir` wrote")


def load_run_config(run_dir_or_checkpoint):
    """The `config.json` dict of the run that wrote this run dir or checkpoint."""
    path = os.path.join(find_run_dir(run_dir_or_checkpoint), CONFIG_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); restore it or retrain") from err


def config_from_record(record):
    """A TrainConfig from a `config.json` dict (extra keys are ignored)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in record.items() if k in names})
