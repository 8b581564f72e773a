"""A run directory: its record (`config.json`) and its checkpoints.

    RUN_DIR/config.json          the RunRecord: model spec, resolved settings, classes
    RUN_DIR/checkpoints/         model.ckpt-<step>.{index,data-*} and the `checkpoint` state file
    RUN_DIR/events.out.tfevents* TensorBoard

Training writes the record; evaluation, inference, export and `--resume`
read it. Records written before the record carried a version (a flat dict
of settings with the model's options as top-level keys) still load.

A checkpoint is complete when every tensor reads back (`checkpoint_problem`
says why one does not). `--resume` takes the newest complete one found by
listing the folder (`newest_complete_checkpoint`), so neither a garbled
state file nor a save cut short loses the run; evaluation, inference and
export take the one the state file names and, when it is damaged, stop
naming the complete ones (`checkpoint_restorer`).
"""
import contextlib
import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Optional, Tuple

import tensorflow as tf

from fcn_graph.errors import CheckpointError
from fcn_graph.models import ModelSpec

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "model.ckpt"
STATE_FILE = "checkpoint"
CHECKPOINT_FILE = re.compile(rf"^{re.escape(CHECKPOINT_PREFIX)}-(\d+)\.(?:index|data-\d+-of-\d+)$")
CHECKPOINT_STEP = re.compile(rf"^{re.escape(CHECKPOINT_PREFIX)}-(\d+)$")
STEP_VARIABLE = "global_step"
# Examples of the training stream consumed so far: the step times the images per step,
# plus the examples skipped as unreadable.
POSITION_VARIABLE = "input_position"
RECORD_VERSION = 2
# Keys of a version-1 record that described the dataset or the model, not a setting.
V1_DESCRIPTIVE_KEYS = ("class_names", "colors", "ignore_label", "channel_order", "mean",
                       "model_options")
# Builder defaults a version-1 record relied on when it omitted an option.
V1_MODEL_DEFAULTS = {"backbone": "vgg16", "geometry": "caffe", "width": 1.0,
                     "learn_upsampling": False, "dropout_rate": 0.5}


@dataclass(frozen=True)
class RunRecord:
    """What `config.json` holds: the one model spec, the resolved settings, the classes."""
    model: ModelSpec
    settings: dict = field(default_factory=dict)
    class_names: Tuple[str, ...] = ()
    colors: Tuple[Tuple[int, int, int], ...] = ()
    ignore_label: int = 255
    # With --keep-best: {"checkpoint": path relative to the run directory, "step",
    # "mean_iu"} of the checkpoint that scored best on validation so far.
    best: Optional[dict] = None
    version: int = RECORD_VERSION

    @property
    def num_classes(self):
        return self.model.num_classes

    def to_dict(self):
        return {"version": RECORD_VERSION, "model": self.model.to_dict(),
                "settings": dict(self.settings),
                "classes": {"names": list(self.class_names),
                            "colors": [[int(c) for c in color] for color in self.colors],
                            "ignore_label": int(self.ignore_label)},
                **({"best": dict(self.best)} if self.best else {})}

    @classmethod
    def from_dict(cls, record):
        if "version" not in record:
            return cls.from_v1(record)
        if record["version"] != RECORD_VERSION:
            raise CheckpointError(f"run record version {record['version']} is newer than this "
                                  f"fcn-graph reads ({RECORD_VERSION}); upgrade fcn-graph")
        classes = record.get("classes", {})
        return cls(model=ModelSpec.from_dict(record["model"]),
                   settings=dict(record.get("settings", {})),
                   class_names=tuple(classes.get("names", ())),
                   colors=tuple(tuple(c) for c in classes.get("colors", ())),
                   ignore_label=int(classes.get("ignore_label", 255)),
                   best=record.get("best"))

    @classmethod
    def from_v1(cls, record):
        """A record of the flat layout: settings and model options side by side."""
        model = {key: record[key] for key in V1_MODEL_DEFAULTS if record.get(key) is not None}
        spec = ModelSpec.from_dict({
            **V1_MODEL_DEFAULTS, **model, "name": record["model"],
            "num_classes": int(record["num_classes"]),
            "channel_order": record.get("channel_order", "BGR"),
            **({"mean": record["mean"]} if "mean" in record else {})})
        settings = {k: v for k, v in record.items() if k not in V1_DESCRIPTIVE_KEYS}
        return cls(model=spec, settings=settings,
                   class_names=tuple(record.get("class_names") or ()),
                   colors=tuple(tuple(c) for c in record.get("colors") or ()),
                   ignore_label=int(record.get("ignore_label", 255)))

    def with_settings(self, **changes):
        return dataclasses.replace(self, settings={**self.settings, **changes})


def find_run_dir(path):
    """The run directory of a run dir, its checkpoints dir or a checkpoint prefix inside it."""
    candidate = os.path.abspath(os.path.expanduser(str(path)))
    for _ in range(4):  # the prefix, its folder (best/ too), checkpoints/, the run
        if os.path.isfile(os.path.join(candidate, CONFIG_FILE)):
            return candidate
        candidate = os.path.dirname(candidate)
    raise CheckpointError(f"{path}: no {CONFIG_FILE} found here or above; pass the directory "
                          f"that `fcn-graph train --run-dir` wrote")


def has_record(run_dir):
    return os.path.isfile(os.path.join(run_dir, CONFIG_FILE))


def load_record(run_dir_or_checkpoint):
    """The RunRecord of the run that wrote this run directory or checkpoint."""
    path = os.path.join(find_run_dir(run_dir_or_checkpoint), CONFIG_FILE)
    try:
        with open(path) as f:
            record = json.load(f)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); restore it from a copy or "
                              f"retrain") from err
    try:
        return RunRecord.from_dict(record)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a run record (missing or malformed {err}); pass "
                              f"the directory `fcn-graph train` wrote") from err


def write_record(run_dir, record):
    """Write `config.json` atomically (temporary file, then rename)."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CONFIG_FILE)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(record.to_dict(), f, indent=2, sort_keys=True)
    os.replace(temporary, path)
    return path


def checkpoint_dir(run_dir):
    return os.path.join(run_dir, CHECKPOINT_DIR)


def checkpoint_step(prefix):
    """The global step stored in a checkpoint, read without building any graph."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{prefix}: cannot be read ({str(err).splitlines()[0]})") from err
    if not reader.has_tensor(STEP_VARIABLE):
        raise CheckpointError(f"{prefix}: holds no {STEP_VARIABLE}; it was not written by "
                              f"`fcn-graph train`, so it can only be used with --init-from")
    try:
        return int(reader.get_tensor(STEP_VARIABLE))
    except (tf.errors.OpError, IndexError) as err:
        raise CheckpointError(f"{prefix}: cannot be read ({str(err).splitlines()[0]})") from err


def checkpoint_position(prefix, default):
    """Examples of the training stream consumed when `prefix` was saved (`default` when it
    predates the record of the position)."""
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(POSITION_VARIABLE):
        return default
    return int(reader.get_tensor(POSITION_VARIABLE))


def step_prefix(directory, step):
    return os.path.join(directory, f"{CHECKPOINT_PREFIX}-{step}")


def prefix_step(prefix):
    """The step in a `model.ckpt-N` name (no file is read)."""
    return int(prefix.rsplit("-", 1)[1])


def saved_checkpoints(directory):
    """Prefixes of every `model.ckpt-N` with a file in `directory`, complete or not, by step.

    The directory is listed rather than the state file trusted: a state file
    can be garbled, or name a checkpoint whose files were lost.
    """
    if not os.path.isdir(directory):
        return []
    steps = {int(match.group(1)) for match in map(CHECKPOINT_FILE.match, os.listdir(directory))
             if match}
    return [step_prefix(directory, step) for step in sorted(steps)]


def checkpoint_problem(prefix):
    """Why the checkpoint `prefix` does not read back completely, or None when every tensor does.

    Reading every tensor also checks each one's checksum, so a truncated or
    damaged data file is found here rather than halfway through a restore.
    """
    if not os.path.isfile(prefix + ".index"):
        return f"{os.path.basename(prefix)}.index is missing (its save did not finish)"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as err:
        return f"its files are truncated or damaged ({str(err).splitlines()[0]})"
    return None


def newest_complete_checkpoint(directory):
    """(the newest checkpoint in `directory` that reads back completely or None,
    {each newer checkpoint passed over: why})."""
    skipped = {}
    for prefix in reversed(saved_checkpoints(directory)):
        problem = checkpoint_problem(prefix)
        if problem is None:
            return prefix, skipped
        skipped[prefix] = problem
    return None, skipped


def complete_checkpoints(directory):
    return [prefix for prefix in saved_checkpoints(directory) if checkpoint_problem(prefix) is None]


def complete_alternatives(directory):
    """A sentence naming the checkpoints of `directory` that can be used instead."""
    complete = complete_checkpoints(directory)
    if not complete:
        return f"no complete checkpoint is left in {directory}; train again"
    names = ", ".join(os.path.basename(prefix) for prefix in complete)
    return (f"complete checkpoints in {directory}: {names}; pass one of them instead, e.g. "
            f"--checkpoint {complete[-1]}")


@contextlib.contextmanager
def quiet_tensorflow_logger():
    """TensorFlow's Python logger held at errors only (its warnings here would mislead)."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def latest_checkpoint(directory):
    """Prefix of the checkpoint the state file names, or None (no state file, a garbled one,
    or one naming a checkpoint without its index)."""
    if not os.path.isdir(directory):
        return None
    with quiet_tensorflow_logger():
        state = tf.train.get_checkpoint_state(directory)
    named = state.model_checkpoint_path if state else None
    return named if named and os.path.isfile(named + ".index") else None


def best_checkpoint(run_dir):
    """The prefix of the run's best checkpoint (`--keep-best`) when it is complete, else None."""
    record = optional_record(run_dir)
    if record is None or not record.best:
        return None
    prefix = os.path.join(run_dir, record.best["checkpoint"])
    return prefix if os.path.isfile(prefix + ".index") else None


def describe_checkpoint(prefix):
    """Which checkpoint `prefix` is, in words: the run's best one or the one of a step."""
    try:
        record = load_record(prefix)
    except CheckpointError:
        record = None
    best = record.best if record is not None else None
    step = CHECKPOINT_STEP.search(os.path.basename(prefix))
    if best and os.path.abspath(prefix) == os.path.abspath(
            os.path.join(find_run_dir(prefix), best["checkpoint"])):
        return (f"{prefix} (the best on validation: step {best['step']}, mean IU "
                f"{best['mean_iu']:.4f})")
    return prefix if step is None else f"{prefix} (step {step.group(1)})"


def resolve_checkpoint(path):
    """A checkpoint prefix from a run directory (its best one, kept by `--keep-best`, else its
    latest), its checkpoints folder, or a prefix itself."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path):
        best = best_checkpoint(path)
        if best:
            return best
        for folder in (checkpoint_dir(path), path):
            latest = latest_checkpoint(folder)
            if latest:
                return latest
            if saved_checkpoints(folder):
                raise CheckpointError(
                    f"{folder}: the state file '{STATE_FILE}' is missing or unreadable, or "
                    f"names a checkpoint whose files are gone; " + complete_alternatives(folder))
        raise CheckpointError(f"{path}: no checkpoint found in this directory or its "
                              f"'{CHECKPOINT_DIR}/' folder; train first or pass a checkpoint "
                              f"prefix such as RUN/checkpoints/model.ckpt-1000")
    if os.path.exists(path + ".index"):
        return path
    raise CheckpointError(f"{path}: neither a run directory nor a checkpoint prefix "
                          f"(expected {path}.index); pass a run directory or a checkpoint prefix")


def optional_record(run_dir) -> Optional[RunRecord]:
    return load_record(run_dir) if run_dir and has_record(run_dir) else None


def checkpoint_restorer(checkpoint, var_list=None):
    """Build the restore ops now (graph time); return `restore(sess)` that fails clearly on a
    damaged checkpoint or one of another network."""
    saver = tf.compat.v1.train.Saver(var_list=var_list)
    # Resource variables take whatever shape a checkpoint holds, so a checkpoint of
    # another network would restore "successfully" and fail at the first run.
    named = var_list if isinstance(var_list, dict) else {
        v.op.name: v for v in (var_list or tf.compat.v1.global_variables())}
    shapes = {name: v.shape.as_list() for name, v in named.items()}

    def mismatch(detail):
        return CheckpointError(
            f"{checkpoint}: does not match the network its config.json describes ({detail}); "
            f"use the config.json of the run that wrote this checkpoint")

    def damaged():
        problem = checkpoint_problem(checkpoint)
        return None if problem is None else CheckpointError(
            f"{checkpoint}: {problem}; " + complete_alternatives(os.path.dirname(checkpoint)))

    def restore(sess):
        try:
            stored = dict(tf.train.list_variables(checkpoint))
            for name, shape in shapes.items():
                if name in stored and stored[name] != shape:
                    raise mismatch(f"{name} is {stored[name]} there but {shape} in the network")
            # Outside its graph a Saver would rebuild itself for eager execution.
            with sess.graph.as_default():
                saver.restore(sess, checkpoint)
        except (tf.errors.OpError, IndexError) as err:
            # Only now is every tensor read back, to tell damage from another network.
            raise (damaged() or mismatch(getattr(err, "message", str(err)).splitlines()[0])) \
                from err
    return restore
