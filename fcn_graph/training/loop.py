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
import os
import time

import tensorflow as tf

from fcn_graph.data import get_dataset, make_dataset
from fcn_graph.layers import create_random_stream
from fcn_graph.training.checkpoints import Checkpointer, checkpoint_step, latest_checkpoint
from fcn_graph.training.config import (CHECKPOINT_DIR, CONFIG_FILE, load_run_config,
                                       model_options, run_record, write_run_config)
from fcn_graph.training.determinism import op_determinism
from fcn_graph.training.guards import (TrainingError, all_finite_op, check_loss, check_weights,
                                       is_label_range_error, labels_out_of_range)
from fcn_graph.training.optim import build_update
from fcn_graph.training.progress import Progress, format_duration
from fcn_graph.training.signals import StopRequest
from fcn_graph.training.summaries import SummaryWriter, histogram_op
from fcn_graph.training.towers import build_tower_loss, tower_devices
from fcn_graph.training.validation import ValidationTower, format_scores

v1 = tf.compat.v1


@dataclasses.dataclass
class TrainingGraph:
    graph: tf.Graph
    data_loss: tf.Tensor
    update: object
    global_step: tf.Variable
    validation: ValidationTower
    saver: object
    weights_finite: tf.Tensor
    histograms: object
    convention: tuple
    initializers: tf.Operation
    staged_init: object


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


def load_backbone_weights(config):
    if not config.weights:
        return None
    from fcn_graph.weights import load_weights
    return load_weights(config.weights, arch=config.backbone)


def build_training_graph(config, source, weights, start_step):
    """Every op of the run, built once."""
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
        options = model_options(config)
        random_stream = create_random_stream()
        data_loss = build_tower_loss(config, batch, source, weights, options,
                                     tower_devices(config.towers))
        update = build_update(data_loss, config, global_step, random_stream)
        validation = ValidationTower(source, config.val_split, config.num_classes, config.model,
                                     options, weights=weights, max_images=config.eval_images,
                                     seed=config.seed, tfrecord_pattern=config.val_tfrecords)
        model_variables = v1.global_variables()
        staged_init = None
        if config.init_from:
            from fcn_graph.weights import StagedInit
            staged_init = StagedInit(config.init_from)
        training = TrainingGraph(
            graph=graph, data_loss=data_loss, update=update, global_step=global_step,
            validation=validation,
            saver=v1.train.Saver(model_variables, max_to_keep=None, save_relative_paths=True),
            # Slots too: an inf Adam moment leaves its weight finite but frozen.
            weights_finite=all_finite_op([v for v in model_variables if v.dtype.is_floating]),
            histograms=histogram_op(update.gradients) if config.histograms else None,
            convention=(graph.get_tensor_by_name("preprocess/channel_order:0"),
                        graph.get_tensor_by_name("preprocess/mean:0")),
            initializers=tf.group(v1.global_variables_initializer(),
                                  v1.local_variables_initializer()),
            staged_init=staged_init)
    graph.finalize()
    return training


def initialize(sess, training, config, weights, resume_from, log):
    sess.run(training.initializers)
    if resume_from:
        training.saver.restore(sess, resume_from)
        log(f"resumed from {resume_from} at step {sess.run(training.global_step)}")
        return
    if weights is not None:
        from fcn_graph.weights import restore_backbone
        restored = restore_backbone(sess, weights)
        log(f"restored {len(restored)} backbone layers from {config.weights}")
    if training.staged_init is not None:
        training.staged_init.restore(sess)
        log(f"initialised from the previous stage {config.init_from}")


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
    result, examples = training.validation.evaluate(sess, keep_examples=config.image_summaries)
    writer.scalars(step, {"validation/pixel_accuracy": result["pixel_accuracy"],
                          "validation/mean_iu": result["mean_iu"],
                          "validation/mean_accuracy": result["mean_accuracy"]})
    writer.panels(step, "validation/input_truth_prediction", examples, source.colors,
                  source.ignore_label)
    return result


def prepare(config):
    """Resolve the configuration and the dataset; find the checkpoint to resume from."""
    if config.resume and config.seed is None and config.run_dir:
        config = dataclasses.replace(config, seed=recorded_seed(config.run_dir))
    config = config.resolved()
    source = get_dataset(config.dataset, config.data_dir, **config.dataset_options)
    if config.num_classes is None:
        config.num_classes = source.num_classes
    if len(source.class_names) != config.num_classes:
        raise ValueError(f"num_classes={config.num_classes} but dataset {config.dataset!r} has "
                         f"{len(source.class_names)} classes; leave --num-classes unset")
    checkpoint_dir = os.path.abspath(os.path.join(config.run_dir, CHECKPOINT_DIR))
    latest = latest_checkpoint(checkpoint_dir)
    if latest and not config.resume:
        raise ValueError(f"{config.run_dir} already holds checkpoints (latest {latest}); pass "
                         "--resume to continue that run or choose another --run-dir")
    return config, source, checkpoint_dir, (latest if config.resume else None)


def recorded_seed(run_dir):
    """The seed in `run_dir`'s config.json (None without one): it fixed the data order."""
    if not os.path.isfile(os.path.join(run_dir, CONFIG_FILE)):
        return None
    return load_run_config(run_dir).get("seed")


def train(config, stream=None, on_evaluation=None):
    """Train per `config` (a TrainConfig); return the final step, loss and validation scores.

    The dict holds `step`, `loss` (mean data loss of the last update),
    `validation` (the reference scores, None when stopped by a signal),
    `history` [(step, loss)], `checkpoint`, `run_dir`, `interrupted` (the
    signal number or None), `wall_time` and the resolved `config`.
    `on_evaluation(step, scores)` is called after every validation, the
    final one included (e.g. to print published numbers beside ours).
    """
    with op_determinism(config.deterministic):
        return run_training(config, stream, on_evaluation)


def run_training(config, stream, on_evaluation):
    started = time.perf_counter()
    config, source, checkpoint_dir, resume_from = prepare(config)
    start_step = checkpoint_step(resume_from) if resume_from else 0
    weights = load_backbone_weights(config)
    training = build_training_graph(config, source, weights, start_step)
    progress = Progress(start_step, config.max_steps, config.images_per_step, config.log_every,
                        stream)
    writer = SummaryWriter(config.run_dir, training.graph)
    checkpointer = Checkpointer(checkpoint_dir, training.saver, config.keep_checkpoints)
    history = []
    step, loss, last_checkpoint = start_step, float("nan"), resume_from
    try:
        with v1.Session(graph=training.graph, config=session_config(config)) as sess, \
                StopRequest() as stop:
            initialize(sess, training, config, weights, resume_from, progress.write)
            order, mean = sess.run(training.convention)
            write_run_config(config.run_dir, run_record(config, source, config.num_classes,
                                                        order.decode(), mean))
            while step < config.max_steps and not stop:
                fetch_histograms = (training.histograms is not None
                                    and (step + 1) % config.summary_every == 0)
                try:
                    loss, lr, histograms = run_update(sess, training, config, fetch_histograms)
                except tf.errors.InvalidArgumentError as err:
                    if is_label_range_error(err):
                        raise labels_out_of_range(err, config) from err
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
                   f"{format_duration(wall)}):\n" + format_scores(result, source.class_names))
    return summary(config, step, loss, result, history, last_checkpoint, started)


def summary(config, step, loss, validation, history, checkpoint, started, interrupted=None):
    return {"step": step, "loss": loss, "validation": validation, "history": history,
            "checkpoint": checkpoint, "run_dir": config.run_dir, "interrupted": interrupted,
            "wall_time": time.perf_counter() - started, "config": config}
