"""`train(config)`: build the whole training graph, finalize it, then run the session loop.

Everything the loop runs exists before the first `sess.run`: the input
iterators, the training tower and its update, the validation tower (sharing
the weights), the saver and the finiteness check. `graph.finalize()` then
makes adding an op during training an error. No `feed_dict` is used: the
input comes from tf.data iterators.

A resumed run reads the global step from the latest checkpoint before
building the graph, so the input pipeline can skip the
`step * batch_size * accumulate` examples already consumed and the run
continues at the same position of the same epoch, with its optimizer slots.
"""
import dataclasses
import time

import tensorflow as tf

from fcn_graph.convention import InputConvention
from fcn_graph.data import data_error_in, get_dataset, make_dataset
from fcn_graph.errors import CheckpointError, SettingsError
from fcn_graph.layers import create_random_stream
from fcn_graph.models import ModelSpec, build, has_vgg_backbone
from fcn_graph.rundir import (RunRecord, checkpoint_dir, checkpoint_step, latest_checkpoint,
                              optional_record, resolve_checkpoint, write_record)
from fcn_graph.scoring import SplitScorer, format_table
from fcn_graph.training.checkpoints import Checkpointer
from fcn_graph.training.config import as_settings, new_run_identity, resolve
from fcn_graph.training.determinism import op_determinism
from fcn_graph.training.guards import (all_finite_op, check_loss, check_weights,
                                       is_label_range_error, labels_out_of_range)
from fcn_graph.training.optim import build_update
from fcn_graph.training.progress import Progress, format_duration
from fcn_graph.training.signals import StopRequest
from fcn_graph.training.staged import StagedInit
from fcn_graph.training.summaries import SummaryWriter, histogram_op
from fcn_graph.training.towers import build_tower_loss, tower_devices
from fcn_graph.weights import load_weights, restore_backbone

v1 = tf.compat.v1


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


@dataclasses.dataclass
class Run:
    """A run about to start: its settings, data, network and where it resumes."""
    config: object
    source: object
    spec: ModelSpec
    weights: object
    resume_from: object
    checkpoint_dir: str


def session_config(config):
    proto = v1.ConfigProto(allow_soft_placement=True,
                           intra_op_parallelism_threads=config.intra_threads,
                           inter_op_parallelism_threads=config.inter_threads)
    proto.gpu_options.allow_growth = True
    if config.xla:
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
                     convention=convention, options=dict(config.net_options))


def build_training_graph(run, start_step):
    """Every op of the run, built once."""
    config, source, spec = run.config, run.source, run.spec
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(config.seed)
        global_step = v1.train.get_or_create_global_step()
        batches = make_dataset(source, config.split, batch_size=config.batch_size, shuffle=True,
                               seed=config.seed, augment=config.augment, repeat=True,
                               skip=start_step * config.images_per_step,
                               crop_size=crop_shape(config.crop_size),
                               tfrecord_pattern=config.tfrecords)
        batch = v1.data.make_one_shot_iterator(batches).get_next()
        random_stream = create_random_stream()
        data_loss = build_tower_loss(config, batch, source, spec, tower_devices(config.towers),
                                     random_stream)
        update = build_update(data_loss, config, global_step, random_stream)

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
        training = TrainingGraph(
            graph=graph, data_loss=data_loss, update=update, global_step=global_step,
            validation=validation,
            saver=v1.train.Saver(model_variables, max_to_keep=None, save_relative_paths=True),
            # Slots too: an inf Adam moment leaves its weight finite but frozen.
            weights_finite=all_finite_op([v for v in model_variables if v.dtype.is_floating]),
            histograms=histogram_op(update.gradients) if config.histograms else None,
            initializers=tf.group(v1.global_variables_initializer(),
                                  v1.local_variables_initializer()),
            staged_init=staged_init)
    graph.finalize()
    return training


def initialize(sess, training, run, log):
    sess.run(training.initializers)
    if run.resume_from:
        training.saver.restore(sess, run.resume_from)
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
    if update.accumulate_op is None:
        fetches = {"loss": training.data_loss, "lr": update.learning_rate,
                   "apply": update.apply_op}
        losses = None
    else:
        losses = [sess.run({"loss": training.data_loss, "add": update.accumulate_op})["loss"]
                  for _ in range(config.accumulate)]
        fetches = {"lr": update.learning_rate, "apply": update.apply_op}
    if fetch_histograms:
        fetches["histograms"] = training.histograms
    out = sess.run(fetches)
    loss = out["loss"] if losses is None else sum(losses) / len(losses)
    return float(loss), float(out["lr"]), out.get("histograms")


def evaluate(sess, training, writer, step, source, config):
    result, examples = training.validation.score(sess, keep_examples=config.image_summaries)
    writer.scalars(step, {"validation/pixel_accuracy": result["pixel_accuracy"],
                          "validation/mean_iu": result["mean_iu"],
                          "validation/mean_accuracy": result["mean_accuracy"]})
    writer.panels(step, "validation/input_truth_prediction", examples, source.colors,
                  source.ignore_label)
    return result


def prepare(overrides, base=None):
    """Resolve the settings (over the stored ones when resuming), the dataset and the network."""
    requested = resolve(overrides, base=base)
    record = None
    if requested.resume:
        if not requested.run_dir:
            raise SettingsError("--resume needs the --run-dir of the run to continue")
        record = optional_record(requested.run_dir)
    stored = record.settings if record else None
    first = resolve(overrides, stored, base=base)
    source = get_dataset(first.dataset, first.data_dir, **first.dataset_options)
    config = new_run_identity(resolve(overrides, stored, source, base))
    directory = checkpoint_dir(config.run_dir)
    latest = latest_checkpoint(directory)
    if latest and not config.resume:
        raise SettingsError(f"{config.run_dir} already holds checkpoints (latest {latest}); pass "
                            "--resume to continue that run or choose another --run-dir")
    if config.resume and not latest:
        raise CheckpointError(f"{config.run_dir}: --resume found no checkpoint to continue "
                              f"from; check --run-dir, or drop --resume to start a new run")
    if record is not None:
        return Run(config, source, record.model, None, latest, directory)
    if config.weights and not has_vgg_backbone(config.model):
        raise SettingsError(f"--model {config.model} has no VGG backbone to load pretrained "
                            f"weights into; drop --weights or choose an FCN variant")
    weights = load_weights(config.weights, arch=config.backbone,
                           channel_order=config.weights_channel_order, mean=config.weights_mean,
                           matconvnet_swap_hw=config.matconvnet_swap_hw) \
        if config.weights else None
    convention = InputConvention(weights.channel_order, tuple(weights.mean)) \
        if weights is not None else InputConvention()
    return Run(config, source, model_spec(config, convention), weights, latest, directory)


def train(config=None, stream=None, on_evaluation=None, base=None):
    """Train per `config` (a TrainConfig or a dict of settings); return the outcome.

    Settings left unset follow the dataset's training defaults, then the
    recipe `base` (a dict of settings), then the field defaults; with
    `resume`, the run directory's recorded settings come before all of
    these. The dict returned holds `step`, `loss` (mean data loss of the
    last update), `validation` (the reference scores, None when stopped by
    a signal), `history` [(step, loss)], `checkpoint`, `run_dir`,
    `interrupted` (the signal number or None), `wall_time` and the resolved
    `config`. `on_evaluation(step, scores)` is called after every
    validation, the final one included (e.g. to print published numbers
    beside ours).
    """
    overrides = as_settings(config or {})
    with op_determinism(overrides.get("deterministic", False)):
        return run_training(prepare(overrides, base), stream, on_evaluation)


def run_training(run, stream, on_evaluation):
    started = time.perf_counter()
    config, source = run.config, run.source
    start_step = checkpoint_step(run.resume_from) if run.resume_from else 0
    training = build_training_graph(run, start_step)
    progress = Progress(start_step, config.max_steps, config.images_per_step, config.log_every,
                        stream)
    writer = SummaryWriter(config.run_dir, training.graph)
    checkpointer = Checkpointer(run.checkpoint_dir, training.saver, config.keep_checkpoints)
    history = []
    step, loss, last_checkpoint = start_step, float("nan"), run.resume_from
    try:
        with v1.Session(graph=training.graph, config=session_config(config)) as sess, \
                StopRequest() as stop:
            initialize(sess, training, run, progress.write)
            write_record(config.run_dir, RunRecord(
                model=run.spec, settings=config.to_settings(),
                class_names=tuple(source.class_names),
                colors=tuple(tuple(int(c) for c in color) for color in source.colors),
                ignore_label=int(source.ignore_label)))
            while step < config.max_steps and not stop:
                fetch_histograms = (training.histograms is not None
                                    and (step + 1) % config.summary_every == 0)
                try:
                    loss, lr, histograms = run_update(sess, training, config, fetch_histograms)
                except tf.errors.InvalidArgumentError as err:
                    if is_label_range_error(err):
                        raise labels_out_of_range(err, config) from err
                    bad_input = data_error_in(err)
                    if bad_input is not None:
                        raise bad_input from err
                    raise
                step += 1
                check_loss(loss, step, config, last_checkpoint)
                history.append((step, loss))
                progress.update(step, loss)
                if step % config.summary_every == 0 or step == config.max_steps:
                    writer.scalars(step, {"train/loss": loss, "train/learning_rate": lr})
                    if histograms is not None:
                        writer.serialized(step, histograms)
                if step % config.save_every == 0 or step == config.max_steps or stop:
                    check_weights(sess.run(training.weights_finite), step, config, last_checkpoint)
                    last_checkpoint = checkpointer.save(sess, step)
                if step % config.eval_every == 0 and step < config.max_steps and not stop:
                    result = evaluate(sess, training, writer, step, source, config)
                    progress.write(f"step {step}: validation pixel accuracy "
                                   f"{result['pixel_accuracy']:.4f}, mean IU {result['mean_iu']:.4f}")
                    if on_evaluation:
                        on_evaluation(step, result)
            progress.close()
            if stop:
                progress.write(f"stopped by signal {stop.signum} at step {step}; saved "
                               f"{last_checkpoint}; continue with --resume --run-dir {config.run_dir}")
                return summary(config, step, loss, None, history, last_checkpoint, started,
                               interrupted=stop.signum)
            result = evaluate(sess, training, writer, step, source, config)
            if on_evaluation:
                on_evaluation(step, result)
    finally:
        progress.close()
        writer.close()
    wall = time.perf_counter() - started
    progress.write(f"final validation ({config.val_split}, step {step}, wall time "
                   f"{format_duration(wall)}):\n" + format_table(result, source.class_names))
    return summary(config, step, loss, result, history, last_checkpoint, started)


def summary(config, step, loss, validation, history, checkpoint, started, interrupted=None):
    return {"step": step, "loss": loss, "validation": validation, "history": history,
            "checkpoint": checkpoint, "run_dir": config.run_dir, "interrupted": interrupted,
            "wall_time": time.perf_counter() - started, "config": config}
