"""`fcn-graph train`: train a segmentation network; flags mirror `TrainConfig`."""
import argparse
import os

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

The global step counts applied updates; each consumes
batch-size x accumulate images. Checkpoints go to RUN_DIR/checkpoints,
TensorBoard events to RUN_DIR (`tensorboard --logdir RUN_DIR`).
SIGTERM/SIGINT save a checkpoint and stop; --resume continues the run at the
same step and data position.
"""


def crop_size(text):
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


def optional_int(text):
    return None if text.lower() in ("none", "0", "all") else int(text)


# (flag, argparse keywords); the destination is the TrainConfig field of the same name.
FLAGS = [
    ("model", dict(help="network: fcn32s, fcn16s, fcn8s (default), fcn8s-atonce, simple_fcn, "
                        "simple_fcn_skips, unet")),
    ("num-classes", dict(type=int, help="default: the dataset's")),
    ("backbone", dict(help="vgg16 (default) or vgg19")),
    ("geometry", dict(help="'same' (default: any size, nothing to crop) or 'caffe' (the "
                           "reference: pad 100 and crops)")),
    ("width", dict(type=float, help="backbone channel scale; default 1.0 with --weights, "
                                    "else 0.25")),
    ("learn-upsampling", dict(action=argparse.BooleanOptionalAction,
                              help="train the bilinear deconvolutions (fixed in the reference)")),
    ("dropout-rate", dict(type=float, help="dropout after fc6 and fc7 (default 0.5)")),
    ("dataset", dict(help="dataset name (default synthetic); see `fcn-graph data list`")),
    ("data-dir", dict(help="where the dataset lives")),
    ("dataset-option", dict(dest="dataset_options", action="append", metavar="KEY=VALUE",
                            help="source option, e.g. size=128x128 or num_train=400 (repeatable)")),
    ("split", dict(help="training split (default train)")),
    ("val-split", dict(help="validation split (default val)")),
    ("tfrecords", dict(help="train from these TFRecord shards (a glob, written by `fcn-graph "
                            "data to-tfrecord`); the dataset still names the classes")),
    ("val-tfrecords", dict(help="validate on these TFRecord shards (a glob)")),
    ("crop-size", dict(type=crop_size, help="train on N x N (or WIDTHxHEIGHT) crops (default 96); "
                                            "'none' trains on whole images")),
    ("augment", dict(action=argparse.BooleanOptionalAction,
                     help="random flips and scales of training images")),
    ("batch-size", dict(type=int, help="images per batch (default 4; >1 needs one size)")),
    ("accumulate", dict(type=int, help="batches whose gradients are averaged per update "
                                       "(default 1)")),
    ("weights", dict(help="pretrained backbone file (caffemodel, npy, mat, npz, h5, TF ckpt)")),
    ("init-from", dict(help="previous-stage checkpoint (e.g. FCN-32s for FCN-16s)")),
    ("optimizer", dict(choices=["adam", "sgd"], help="adam (default) or sgd; see above")),
    ("lr", dict(type=float, help="learning rate (default per recipe)")),
    ("lr-policy", dict(choices=["fixed", "poly"], help="default: poly with adam, fixed with sgd")),
    ("lr-power", dict(type=float, help="exponent of the poly policy (default 0.9)")),
    ("momentum", dict(type=float, help="SGD momentum (default 0.99, the reference)")),
    ("weight-decay", dict(type=float, help="L2 on weights, never biases (default: sgd 5e-4, "
                                           "adam 0)")),
    ("bias-lr-mult", dict(type=float, help="bias learning-rate multiplier, sgd only (default 2)")),
    ("loss-normalize", dict(choices=["mean", "sum"], help="default: mean with adam, sum with sgd")),
    ("max-steps", dict(type=int, help="updates to train for (default 600)")),
    ("run-dir", dict(help="output directory (default runs/<model>-<dataset>-<time>)")),
    ("resume", dict(action="store_true", help="continue the run in --run-dir from its latest "
                                              "checkpoint, with its config.json")),
    ("save-every", dict(type=int, help="checkpoint every N steps (default 200) and at the end")),
    ("keep-checkpoints", dict(type=int, help="checkpoints kept (default 3)")),
    ("eval-every", dict(type=int, help="validate every N steps (default 200) and at the end")),
    ("eval-images", dict(type=optional_int, help="validation images used (default: all)")),
    ("summary-every", dict(type=int, help="TensorBoard scalars every N steps (default 20)")),
    ("image-summaries", dict(type=int, help="validation images shown in TensorBoard (default 3)")),
    ("histograms", dict(action="store_true", help="weight and gradient histograms")),
    ("log-every", dict(type=int, help="progress line every N steps when not on a terminal")),
    ("seed", dict(type=int, help="seed of data order, augmentation and initialisation")),
    ("deterministic", dict(action="store_true", help="enable TensorFlow op determinism "
                                                     "(identical losses for one seed)")),
    ("towers", dict(type=int, help="split each batch over N data-parallel towers, one per GPU "
                                   "(default: every visible GPU)")),
    ("intra-threads", dict(type=int, help="threads inside one op (default: all cores)")),
    ("inter-threads", dict(type=int, help="ops run in parallel (default: TensorFlow's choice)")),
    ("xla", dict(action=argparse.BooleanOptionalAction,
                 help="JIT-compile the graph with XLA (default on: faster on CPU)")),
]


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a segmentation network", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter, argument_default=argparse.SUPPRESS)
    for flag, keywords in FLAGS:
        parser.add_argument(f"--{flag}", **keywords)
    parser.set_defaults(func=run)


def config_from_args(args):
    """The run's TrainConfig: flags over the stored config.json when resuming, else over defaults."""
    from fcn_graph.data import parse_options
    from fcn_graph.data.registry import dataset_class
    from fcn_graph.training.config import CONFIG_FILE, TrainConfig, config_from_record
    from fcn_graph.training import load_run_config

    given = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    if "dataset_options" in given:
        given["dataset_options"] = parse_options(given["dataset_options"])
    run_dir = given.get("run_dir")
    if given.get("resume") and run_dir and os.path.isfile(os.path.join(run_dir, CONFIG_FILE)):
        stored = config_from_record(load_run_config(run_dir)).__dict__
        return TrainConfig(**{**stored, **given})
    if given.get("resume") and not run_dir:
        raise ValueError("--resume needs the --run-dir of the run to continue")
    source = dataset_class(given.get("dataset", TrainConfig.dataset))
    return TrainConfig(**{**source.training_defaults, **given})


def run(args):
    # Bad settings, data or weights are reported by the CLI in one line (exit 1).
    from fcn_graph.training import train

    result = train(config_from_args(args))
    if result["interrupted"]:
        return 128 + int(result["interrupted"])
    return 0
