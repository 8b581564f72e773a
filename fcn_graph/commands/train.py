"""`fcn-graph train`: train a segmentation network; its flags are the settings of `TrainConfig`."""
import argparse

from fcn_graph.data import parse_options
from fcn_graph.training import train
from fcn_graph.training.config import FIELDS, GROUPS, UNSET, argument_type, flag_name

DESCRIPTION = """\
Train a segmentation network and evaluate it on the validation split.

With no arguments it trains FCN-8s (width 0.25, 'same' geometry) from scratch
on the built-in synthetic street scenes with Adam, and prints the validation
pixel accuracy, mean IU and per-class IoU at the end.

Two recipes, picked by --optimizer; options left unset follow the recipe:
  adam (default)  mean-normalised loss, poly decay of the learning rate to 0
                  at --max-steps, lr 1e-3 from scratch or 1e-4 when starting
                  from --weights/--init-from, no weight decay. Adam ignores the
                  scale of the loss, so the reference's tiny rates do not apply.
  sgd             the reference Caffe solver: summed loss, fixed lr (1e-10
                  FCN-32s, 1e-12 FCN-16s, 1e-14 FCN-8s, 1e-10 at-once),
                  momentum 0.99, weight decay 5e-4 on weights only, biases
                  at twice the learning rate. Its rates assume the reference's
                  batch of one whole image: add --batch-size 1 --crop-size none
                  (scripts/voc_*.py set all of this). The CVPR paper's variant:
                  --accumulate 20 --momentum 0.9 --lr 1e-4.

A dataset may bring its own defaults (single_image trains the whole photo,
batch 1, without augmentation or dropout); flags given win over them.

The global step counts applied updates; each consumes
batch-size x accumulate images. Checkpoints go to RUN_DIR/checkpoints,
TensorBoard events to RUN_DIR (`tensorboard --logdir RUN_DIR`).
SIGTERM/SIGINT save a checkpoint and stop; --resume continues the run at the
same step and data position with the settings in RUN_DIR/config.json (flags
given then override them, except those that would change the network, the
data order or the optimizer, which are refused).
"""
GROUP_TITLES = {"model": "model: what network", "data": "data: on what",
                "solver": "solver: from where and how", "run": "run: bookkeeping and execution"}


def default_text(metadata):
    if metadata["derived"]:
        return metadata["derived"]
    default = metadata["default"]
    if default in (None, {}):
        return None
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def add_setting(group, name):
    field = FIELDS[name]
    metadata = field.metadata
    default = default_text(metadata)
    help_text = metadata["help"] + (f" (default: {default})" if default else "")
    keywords = dict(dest=name, help=help_text.replace("%", "%%"))
    if metadata["parse"] is bool:
        keywords["action"] = argparse.BooleanOptionalAction
    elif name == "dataset_options":
        keywords.update(action="append", metavar=metadata["metavar"])
    elif name == "net_options":
        return  # a dict of builder options: set by recipes and the Python API
    else:
        keywords["type"] = argument_type(name)
        check = metadata["check"]
        if check is not None and check.options:
            keywords["metavar"] = "{" + ",".join(check.options) + "}"
    group.add_argument(f"--{flag_name(name)}", **keywords)


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a segmentation network", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter, argument_default=argparse.SUPPRESS)
    groups = {name: parser.add_argument_group(GROUP_TITLES[name]) for name in GROUPS}
    for name, field in FIELDS.items():
        add_setting(groups[field.metadata["group"]], name)
    parser.set_defaults(func=run)


def overrides_from_args(args):
    """The settings given on the command line (argparse leaves the others out)."""
    given = {name: value for name, value in vars(args).items()
             if name in FIELDS and value is not UNSET}
    if "dataset_options" in given:
        given["dataset_options"] = parse_options(given["dataset_options"])
    return given


def run(args):
    result = train(overrides_from_args(args))
    if result["interrupted"]:
        return 128 + int(result["interrupted"])
    return 0
