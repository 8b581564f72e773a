"""`train(config)`: build the whole training graph, finalize it, then run the session loop.

Everything the loop runs exists before the first `sess.run`: the input
iterators, the training tower and its update, the validation tower (sharing
the weights), the saver and the finiteness check. `graph.finalize()` then
makes adding an op during training an error. No `feed_dict` is used: the
input comes from tf.data iterators.

A resumed run starts from the newest checkpoint that reads back completely
(one cut short or damaged is named and passed over). It reads the global
step and the stream position (`input_position`: the examples consumed,
`step * batch_size * accumulate` plus any skipped as unreadable) from it
before building the graph, so the input pipeline skips exactly the examples
already consumed and the run continues at the same position of the same
epoch, with its optimizer slots.

Nothing is written to the run directory until the network is built and
restored: then the record, then the TensorBoard events. A data error met
mid-run saves the last completed update before stopping.
"""
import dataclasses
import os
import time
from typing import Optional

import tensorflow as tf

from fcn_graph.convention import InputConvention
from fcn_graph.data import DataError, data_error_in, get_dataset, make_dataset
from fcn_graph.data.pipeline import BadExamples
from fcn_graph.distributed import ONE_MACHINE, join
from fcn_graph.errors import CheckpointError, SettingsError
from fcn_graph.layers import create_random_stream
from fcn_graph.models import ModelSpec, build, has_vgg_backbone
from fcn_graph.precision import emulation_note
from fcn_graph.rundir import (POSITION_VARIABLE, RunRecord, checkpoint_dir, checkpoint_position,
                              checkpoint_restorer, checkpoint_step, newest_complete_checkpoint,
                              optional_record, prefix_step, resolve_checkpoint, saved_checkpoints,
                              write_record)
from fcn_graph.scoring import SplitScorer, format_table
from fcn_graph.training.checkpoints import (BEST_DIR, BestCheckpoint, Checkpointer,
                                            remove_partial_saves, written_to)
from fcn_graph.training.config import as_settings, new_run_identity, resolve
from fcn_graph.training.determinism import op_determinism
from fcn_graph.training.guards import (all_finite_op, check_loss, check_weights,
                                       is_label_range_error, labels_out_of_range)
from fcn_graph.training.optim import build_update
from fcn_graph.training.progress import Progress, format_duration
from fcn_graph.training.signals import StopRequest
from fcn_graph.training.staged import StagedInit
from fcn_graph.training.summaries import SummaryWriter, histogram_op
from fcn_graph.training.xla_choice import choose_xla
from fcn_graph.training.towers import (build_tower_loss, class_weights_line,
                                       resolved_class_weights, tower_devices)
from fcn_graph.weights import load_weights, restore_backbone

v1 = tf.compat.v1


@dataclasses.dataclass
class StreamPosition:
    """Examples of the training stream consumed, saved in checkpoints as `input_position`.

    `record` runs with every batch (its update's apply, or its accumulation);
    with accumulation, the position is held back until `commit` runs with the
    apply, and `mid_update` is true while an update has consumed some of its
    batches but not been applied.
    """
    variable: tf.Variable
    record: tf.Operation
    commit: object
    mid_update: tf.Tensor


@dataclasses.dataclass
class TrainingGraph:
    graph: tf.Graph
    data_loss: tf.Tensor
    update: object
    global_step: tf.Variable
    validation: SplitScorer
    saver: object
    weights_finite: tf.Tensor
    histograms: object
    initializers: tf.Operation
    staged_init: object
    position: StreamPosition = None
    restore: object = None
    bad_examples: object = None
    coordination: object = None  # this replica's part in a cluster; None on one machine


@dataclasses.dataclass
class Run:
    """A run about to start: its settings, data, network and where it resumes."""
    config: object
    source: object
    spec: ModelSpec
    weights: object
    resume_from: object
    checkpoint_dir: str
    # Newer checkpoints passed over when resuming: {prefix: why}.
    skipped_checkpoints: dict = dataclasses.field(default_factory=dict)
    # This process's part in the run (fcn_graph.distributed): alone, or a task of a cluster.
    replica: object = ONE_MACHINE
    # The run record's best checkpoint (--keep-best) so far, when resuming.
    best: Optional[dict] = None


def session_config(config, xla):
    proto = v1.ConfigProto(allow_soft_placement=True,
                           intra_op_parallelism_threads=config.intra_threads,
                           inter_op_parallelism_threads=config.inter_threads)
    proto.gpu_options.allow_growth = True
    if xla:
        proto.graph_options.optimizer_options.global_jit_level = v1.OptimizerOptions.ON_1
    return proto


def crop_shape(crop_size):
    if crop_size is None:
        return None
    if isinstance(crop_size, int):
        return (crop_size, crop_size)
    return tuple(int(c) for c in crop_size)


def model_spec(config, convention):
    """The network a resolved TrainConfig describes, with its weights' input convention."""
    return ModelSpec(name=config.model, num_classes=config.num_classes, backbone=config.backbone,
                     geometry=config.geometry, width=config.width,
                     dropout_rate=config.dropout_rate, learn_upsampling=config.learn_upsampling,
                     convention=convention, options=dict(config.net_options),
                     precision=config.precision)


def stream_position(batch, update, start_position):
    """The StreamPosition of the examples the updates consume from `batch`."""
    variable = v1.get_variable(POSITION_VARIABLE, dtype=tf.int64, trainable=False,
                               initializer=tf.constant(start_position, tf.int64))
    after_batch = tf.reduce_max(batch["position"]) + 1
    if update.accumulate_op is None:
        with tf.control_dependencies([update.apply_op]):
            record = variable.assign(after_batch).op
        return StreamPosition(variable, record, None, tf.constant(False))
    pending = v1.get_variable("pending_" + POSITION_VARIABLE, dtype=tf.int64, trainable=False,
                              initializer=tf.constant(start_position, tf.int64),
                              collections=[v1.GraphKeys.LOCAL_VARIABLES])
    with tf.control_dependencies([update.accumulate_op]):
        record = pending.assign(after_batch).op
    with tf.control_dependencies([update.apply_op]):
        commit = variable.assign(pending).op
    return StreamPosition(variable, record, commit, tf.not_equal(pending, variable))


def build_training_graph(run, start_step, start_position=None):
    """Every op of the run, built once; the input skips `start_position` examples
    (by default the `start_step` updates' worth)."""
    config, source, spec = run.config, run.source, run.spec
    if start_position is None:
        start_position = start_step * config.images_per_step
    bad_examples = BadExamples() if config.skip_bad_examples else None
    graph = tf.Graph()
    with graph.as_default(), run.replica.placement():
        # Each worker draws its own dropout masks; the chief's are those of one machine.
        v1.set_random_seed(config.seed + run.replica.index)
        global_step = v1.train.get_or_create_global_step()
        batches = make_dataset(source, config.split, batch_size=config.batch_size, shuffle=True,
                               seed=config.seed, augment=config.augment, repeat=True,
                               skip=start_position, crop_size=crop_shape(config.crop_size),
                               tfrecord_pattern=config.tfrecords, bad_examples=bad_examples,
                               shard=run.replica.shard)
        batch = v1.data.make_one_shot_iterator(batches).get_next()
        random_stream = create_random_stream()
        data_loss = build_tower_loss(config, batch, source, spec, tower_devices(config.towers),
                                     random_stream)
        update = build_update(data_loss, config, global_step, random_stream, run.replica.task)
        position = stream_position(batch, update, start_position)
        coordination = run.replica.coordinate(global_step, update, position.variable,
                                              run_record(run), run.resume_from, start_position)

        def shared_network(images):
            with v1.variable_scope(v1.get_variable_scope(), reuse=True), \
                    tf.name_scope("validation"):
                return build(spec, images, is_training=tf.constant(False))

        validation = SplitScorer(source, config.val_split, shared_network,
                                 max_images=config.eval_images,
                                 tfrecord_pattern=config.val_tfrecords,
                                 keep_images=config.image_summaries > 0)
        model_variables = v1.global_variables()
        staged_init = StagedInit(resolve_checkpoint(config.init_from)) \
            if config.init_from and not run.resume_from else None
        # The position is initialised from the checkpoint already, which older
        # checkpoints do not hold.
        restore = checkpoint_restorer(run.resume_from, [
            v for v in run.replica.restored(model_variables) if v is not position.variable]) \
            if run.resume_from else None
        training = TrainingGraph(
            graph=graph, data_loss=data_loss, update=update, global_step=global_step,
            validation=validation,
            saver=v1.train.Saver(model_variables, max_to_keep=None, save_relative_paths=True),
            # Slots too: an inf Adam moment leaves its weight finite but frozen.
            weights_finite=all_finite_op([v for v in model_variables if v.dtype.is_floating]),
            histograms=histogram_op(update.gradients) if config.histograms else None,
            initializers=tf.group(v1.global_variables_initializer(),
                                  v1.local_variables_initializer()),
            staged_init=staged_init, position=position, restore=restore,
            bad_examples=bad_examples, coordination=coordination)
    graph.finalize()
    return training


def initialize(sess, training, run, log):
    sess.run(training.initializers)
    note = emulation_note(run.config.precision)
    if note:
        log(note)
    if run.config.class_weights:
        log(class_weights_line(run.config.class_weights, run.source.class_names))
    if run.resume_from:
        for prefix, why in run.skipped_checkpoints.items():
            log(f"skipped {prefix}: {why}")
        training.restore(sess)
        log(f"resumed from {run.resume_from} at step {sess.run(training.global_step)}")
        return
    if run.weights is not None:
        restored = restore_backbone(sess, run.weights)
        log(f"restored {len(restored)} backbone layers from {run.config.weights}")
    if training.staged_init is not None:
        training.staged_init.restore(sess)
        log(f"initialised from the previous stage {run.config.init_from}")


def run_update(sess, training, config, fetch_histograms):
    """One update; returns (mean data loss over its batches, learning rate, histogram summary)."""
    update = training.update
    position = training.position
    if update.accumulate_op is None:
        fetches = {"loss": training.data_loss, "lr": update.learning_rate,
                   "apply": update.apply_op, "position": position.record}
        losses = None
    else:
        losses = [sess.run({"loss": training.data_loss, "add": update.accumulate_op,
                            "position": position.record})["loss"]
                  for _ in range(config.accumulate)]
        fetches = {"lr": update.learning_rate, "apply": update.apply_op,
                   "position": position.commit}
    if fetch_histograms:
        fetches["histograms"] = training.histograms
    out = sess.run(fetches)
    loss = out["loss"] if losses is None else sum(losses) / len(losses)
    return float(loss), float(out["lr"]), out.get("histograms")


def evaluate(sess, training, writer, step, source, config, best=None):
    """Validate; with a BestCheckpoint, keep the weights when they score the best mean IU."""
    result, examples = training.validation.score(sess, keep_examples=config.image_summaries)
    if best is not None:
        best.consider(sess, step, result["mean_iu"])
    writer.scalars(step, {"validation/pixel_accuracy": result["pixel_accuracy"],
                          "validation/mean_iu": result["mean_iu"],
                          "validation/mean_accuracy": result["mean_accuracy"]})
    writer.panels(step, "validation/input_truth_prediction", examples, source.colors,
                  source.ignore_label)
    return result


def prepare(overrides, base=None, replica=ONE_MACHINE):
    """Resolve the settings (over the stored ones when resuming, over the chief's on a worker of
    a cluster), the dataset and the network."""
    requested = resolve(overrides, base=base)
    record = None
    if not replica.is_chief:
        record = replica.chief_record()
    elif requested.resume:
        if not requested.run_dir:
            raise SettingsError("--resume needs the --run-dir of the run to continue")
        record = optional_record(requested.run_dir)
    stored = record.settings if record else None
    first = resolve(overrides, stored, base=base)
    source = get_dataset(first.dataset, first.data_dir, **first.dataset_options)
    config = resolved_class_weights(new_run_identity(resolve(overrides, stored, source, base)),
                                    source)
    if not replica.is_chief:
        # The chief alone restores and writes the run; a worker builds the chief's network.
        return Run(dataclasses.replace(config, weights=None, init_from=None), source,
                   record.model, None, None, None, replica=replica)
    check_run_dir(config.run_dir)
    directory = checkpoint_dir(config.run_dir)
    saved = saved_checkpoints(directory)
    if saved and not config.resume:
        raise SettingsError(f"{config.run_dir} already holds checkpoints (newest {saved[-1]}); "
                            f"pass --resume to continue that run or choose another --run-dir")
    if config.resume and not saved:
        raise CheckpointError(f"{config.run_dir}: --resume found no checkpoint to continue "
                              f"from; check --run-dir, or drop --resume to start a new run")
    latest, skipped = newest_complete_checkpoint(directory) if config.resume else (None, {})
    if config.resume and not latest:
        raise CheckpointError(
            f"{directory}: none of its checkpoints reads back completely ("
            + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped.items())
            + "); nothing to resume from: start a new run in another --run-dir")
    if config.recompute and not has_vgg_backbone(config.model):
        raise SettingsError(f"--recompute recomputes the first VGG blocks, and --model "
                            f"{config.model} has no VGG backbone; drop --recompute or choose an "
                            f"FCN variant")
    if record is not None:
        return Run(config, source, record.model, None, latest, directory, skipped, replica,
                   record.best)
    if config.weights and not has_vgg_backbone(config.model):
        raise SettingsError(f"--model {config.model} has no VGG backbone to load pretrained "
                            f"weights into; drop --weights or choose an FCN variant")
    weights = load_weights(config.weights, arch=config.backbone,
                           channel_order=config.weights_channel_order, mean=config.weights_mean,
                           matconvnet_swap_hw=config.matconvnet_swap_hw) \
        if config.weights else None
    convention = InputConvention(weights.channel_order, tuple(weights.mean)) \
        if weights is not None else InputConvention()
    return Run(config, source, model_spec(config, convention), weights, latest, directory,
               skipped, replica)


def check_run_dir(run_dir):
    """Refuse a --run-dir that is a file or lies under one, before anything is built."""
    existing = os.path.abspath(run_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise SettingsError(f"--run-dir {run_dir}: {existing} is a file, not a directory; "
                            f"choose another --run-dir")


def train(config=None, stream=None, on_evaluation=None, base=None):
    """Train per `config` (a TrainConfig or a dict of settings); return the outcome.

    Settings left unset follow the dataset's training defaults, then the
    recipe `base` (a dict of settings), then the field defaults; with
    `resume`, the run directory's recorded settings come before all of
    these. The dict returned holds `step`, `loss` (mean data loss of the
    last update), `validation` (the reference scores, None when stopped by
    a signal), `history` [(step, loss)], `checkpoint`, `run_dir`,
    `interrupted` (the signal number or None), `skipped_examples` (unreadable
    examples skipped, with `skip_bad_examples`), `wall_time` and the resolved
    `config`. `on_evaluation(step, scores)` is called after every
    validation, the final one included (e.g. to print published numbers
    beside ours).

    With `cluster` and `task` (or TF_CONFIG) the process is one task of a
    cluster (`fcn_graph.distributed`): a ps task serves until killed; a
    worker returns no validation and no checkpoint, which are the chief's.
    """
    overrides = as_settings(config or {})
    replica = join(overrides.get("cluster"), overrides.get("task"))
    if replica.is_ps:
        return replica.serve()
    with op_determinism(overrides.get("deterministic", False)):
        return replica.rejoining(
            lambda: run_training(prepare(overrides, base, replica), stream, on_evaluation))


def run_training(run, stream, on_evaluation):
    started = time.perf_counter()
    config, source = run.config, run.source
    if run.replica.is_chief:
        start_step = checkpoint_step(run.resume_from) if run.resume_from else 0
        start_position = checkpoint_position(run.resume_from,
                                             start_step * config.images_per_step) \
            if run.resume_from else 0
    else:
        start_step, start_position = run.replica.joined_at
    training = build_training_graph(run, start_step, start_position)
    progress = Progress(start_step, config.max_steps, config.images_per_step, config.log_every,
                        stream)
    checkpointer = Checkpointer(run.checkpoint_dir, training.saver, config.keep_checkpoints,
                                incomplete=run.skipped_checkpoints)
    best = best_keeper(run, training.saver) if config.keep_best else None
    writer = None
    history = []
    step, loss, last_checkpoint = start_step, float("nan"), run.resume_from
    xla = choose_xla(config.xla, training.graph, lambda jit: session_config(config, jit),
                     training.initializers, lambda sess: run_update(sess, training, config, False),
                     config.max_steps - start_step, run.replica is ONE_MACHINE, progress.write,
                     deterministic=config.deterministic)
    try:
        with run.replica.session(training.graph, session_config(config, xla)) as sess, \
                StopRequest() as stop:
            run.replica.initialize(sess, training.coordination,
                                   lambda: initialize(sess, training, run, progress.write),
                                   progress.write)
            if run.replica.is_chief:
                # Only now, with the network built and restored, is the run directory written.
                with written_to(config.run_dir, "run record"):
                    write_record(config.run_dir, run_record(run))
                    writer = SummaryWriter(config.run_dir, training.graph)
                for path in remove_partial_saves(run.checkpoint_dir):
                    progress.write(f"removed {path}, left by a save that was cut short")
            while step < config.max_steps and not stop:
                fetch_histograms = (training.histograms is not None
                                    and (step + 1) % config.summary_every == 0)
                try:
                    loss, lr, histograms = run_update(sess, training, config, fetch_histograms)
                except tf.errors.InvalidArgumentError as err:
                    failure = input_failure(err, config)
                    if failure is None:
                        raise
                    saved = save_before_stopping(sess, training, checkpointer, step,
                                                 last_checkpoint) \
                        if run.replica.is_chief else last_checkpoint
                    note = stopping_note(saved, step, failure, config)
                    raise type(failure)(f"{failure} {note}") from err
                step = run.replica.finish_update(sess, training.coordination, step, stop)
                if training.bad_examples is not None:
                    for reason in training.bad_examples.drain():
                        progress.write(f"skipped a training example: {reason}")
                check_loss(loss, step, config, last_checkpoint)
                history.append((step, loss))
                progress.update(step, loss)
                if not run.replica.is_chief:
                    continue  # summaries, checkpoints and validation are the chief's
                if step % config.summary_every == 0 or step == config.max_steps:
                    values = {"train/loss": loss, "train/learning_rate": lr}
                    if training.update.scalars:
                        values.update(sess.run(training.update.scalars))
                    writer.scalars(step, values)
                    if histograms is not None:
                        writer.serialized(step, histograms)
                if step % config.save_every == 0 or step == config.max_steps or stop:
                    check_weights(sess.run(training.weights_finite), step, config, last_checkpoint)
                    last_checkpoint = checkpointer.save(sess, step)
                if step % config.eval_every == 0 and step < config.max_steps and not stop:
                    result = evaluate(sess, training, writer, step, source, config, best)
                    progress.write(f"step {step}: validation pixel accuracy "
                                   f"{result['pixel_accuracy']:.4f}, mean IU {result['mean_iu']:.4f}")
                    if result["collapse_warning"]:
                        progress.write(f"warning: {result['collapse_warning']}")
                    if on_evaluation:
                        on_evaluation(step, result)
            progress.close()
            skipped = int(sess.run(training.position.variable)) - step * config.images_per_step
            if not run.replica.is_chief:
                return summary(config, step, loss, None, history, None, started,
                               interrupted=stop.signum, skipped_examples=skipped)
            if stop:
                progress.write(f"stopped by signal {stop.signum} at step {step}; saved "
                               f"{last_checkpoint}; continue with --resume --run-dir {config.run_dir}")
                return summary(config, step, loss, None, history, last_checkpoint, started,
                               interrupted=stop.signum, skipped_examples=skipped)
            result = evaluate(sess, training, writer, step, source, config, best)
            if on_evaluation:
                on_evaluation(step, result)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    wall = time.perf_counter() - started
    if skipped:
        progress.write(f"{skipped} unreadable training examples were skipped")
    progress.write(f"final validation ({config.val_split}, step {step}, wall time "
                   f"{format_duration(wall)}):\n" + format_table(result, source.class_names))
    return summary(config, step, loss, result, history, last_checkpoint, started,
                   skipped_examples=skipped)


def run_record(run):
    """The run's config.json."""
    source = run.source
    return RunRecord(model=run.spec, settings=run.config.to_settings(),
                     class_names=tuple(source.class_names),
                     colors=tuple(tuple(int(c) for c in color) for color in source.colors),
                     ignore_label=int(source.ignore_label), best=run.best)


def best_keeper(run, saver):
    """The --keep-best copy, recorded in config.json each time it changes."""
    def record(entry):
        run.best = entry
        write_record(run.config.run_dir, run_record(run))
    return BestCheckpoint(os.path.join(run.checkpoint_dir, BEST_DIR), run.config.run_dir, saver,
                          record, best=run.best)


def input_failure(err, config):
    """The user error behind an InvalidArgumentError of an update (bad labels or an unreadable
    example), or None."""
    if is_label_range_error(err):
        return labels_out_of_range(err, config)
    return data_error_in(err)


def save_before_stopping(sess, training, checkpointer, step, last_checkpoint):
    """Save update `step`, the last completed one, when the run stops on bad input; returns
    the newest checkpoint. Not when it is saved already, when an accumulated update had
    consumed some of its batches (their statistics and dropout draws are spent), or when the
    weights are not finite."""
    saved_step = prefix_step(last_checkpoint) if last_checkpoint else 0
    if step == saved_step or sess.run(training.position.mid_update) \
            or not sess.run(training.weights_finite):
        return last_checkpoint
    return checkpointer.save(sess, step)


def stopping_note(checkpoint, step, failure, config):
    if checkpoint is None:
        return "No checkpoint had been saved."
    skipping = " (or pass --skip-bad-examples to leave such examples out)" \
        if isinstance(failure, DataError) and not config.skip_bad_examples else ""
    return (f"Stopped after step {step}; newest checkpoint {checkpoint}: continue with "
            f"--resume --run-dir {config.run_dir} once the data is fixed{skipping}.")


def summary(config, step, loss, validation, history, checkpoint, started, interrupted=None,
            skipped_examples=0):
    return {"step": step, "loss": loss, "validation": validation, "history": history,
            "checkpoint": checkpoint, "run_dir": config.run_dir, "interrupted": interrupted,
            "skipped_examples": skipped_examples,
            "wall_time": time.perf_counter() - started, "config": config}
