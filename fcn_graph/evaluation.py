"""Scoring a network on a whole dataset split, as the FCN reference does.

Every image goes through a tf.data pipeline at its native size, batch 1,
without augmentation, and ONE confusion matrix is accumulated over the
split before any score is computed (averaging per-image scores would weigh
small images like large ones). With CRF refinement the same images are
scored twice, with and without it, so the two rows compare like for like.
"""
import math

import numpy as np
import tensorflow as tf

from fcn_graph.inference import (build_network, checkpoint_restorer, require_crf,
                                 resolve_checkpoint, run_config, segmentation_outputs)
from fcn_graph.metrics import confusion_matrix, scores

v1 = tf.compat.v1

SUMMARY_ROWS = (("pixel accuracy", "pixel_accuracy"), ("mean accuracy", "mean_accuracy"),
                ("mean IU", "mean_iu"), ("f.w. IU", "fw_iu"))


def run_batches(sess, fetches, max_batches=None, init_op=None):
    """Yield `sess.run(fetches)` until the input iterator is exhausted or `max_batches` ran."""
    if init_op is not None:
        sess.run(init_op)
    count = 0
    while max_batches is None or count < max_batches:
        try:
            yield sess.run(fetches)
        except tf.errors.OutOfRangeError:
            return
        count += 1


def accumulate_confusion(sess, fetch_pred, fetch_label, num_classes, ignore_label=255,
                         max_batches=None, init_op=None):
    """One (num_classes, num_classes) confusion matrix over every batch the iterator yields."""
    hist = np.zeros((num_classes, num_classes), np.int64)
    for pred, label in run_batches(sess, [fetch_pred, fetch_label], max_batches, init_op):
        hist += confusion_matrix(label, pred, num_classes, ignore_label)
    return hist


def score_report(hist):
    """The reference scores of a confusion matrix, plus the matrix itself."""
    report = scores(hist)
    report["confusion_matrix"] = np.asarray(hist).tolist()
    return report


def percent(value):
    return "   n/a" if value is None or math.isnan(value) else f"{100.0 * value:6.2f}"


def format_table(scores, class_names):
    """Per-class IoU and accuracy (percent) followed by the four summary scores."""
    width = max([len("class")] + [len(str(name)) for name in class_names])
    accuracy = scores.get("per_class_accuracy") or [None] * len(class_names)
    lines = [f"{'class':<{width}}    IoU    acc"]
    for name, iu, acc in zip(class_names, scores["per_class_iu"], accuracy):
        lines.append(f"{str(name):<{width}}  {percent(iu)} {percent(acc)}")
    lines.append("")
    lines.extend(f"{label:<15} {percent(scores[key])}" for label, key in SUMMARY_ROWS)
    return "\n".join(lines)


def json_ready(value):
    """NaN (a class absent everywhere) -> None, since JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def evaluation_batches(source, split, max_images):
    """An initializable iterator over the split: native size, batch 1, in order, once."""
    from fcn_graph.data import make_dataset
    dataset = make_dataset(source, split, batch_size=1, shuffle=False, augment=None,
                           repeat=False)
    if max_images is not None:
        dataset = dataset.take(max_images)
    iterator = v1.data.make_initializable_iterator(dataset)
    return iterator, iterator.get_next()


def crf_options(crf):
    """`crf` as keyword arguments of `fcn_graph.crf.refine` (True = its defaults), or None."""
    if not crf:
        return None
    return dict(crf) if isinstance(crf, dict) else {}


def evaluate_graph(source, split, build, restorer, crf=None, max_images=None):
    """Score the network `build(images)` makes, with values loaded by `restorer`.

    `restorer()` is called once the network exists (graph time) and returns
    `restore(sess)`, run after the variables initializer.

    Returns the scores of the split and, when `crf` is set, the scores of
    the same predictions after dense-CRF refinement.
    """
    refine_options = crf_options(crf)
    crf_module = require_crf() if refine_options is not None else None
    num_classes, ignore = source.num_classes, source.ignore_label
    graph = tf.Graph()
    with graph.as_default():
        iterator, batch = evaluation_batches(source, split, max_images)
        net = build(batch["image"])
        probabilities, labels = segmentation_outputs(net.logits)
        initialize = v1.global_variables_initializer()
        restore = restorer()
        fetches = {"label": batch["label"], "pred": labels}
        if crf_module is not None:
            fetches.update(image=batch["image"], probabilities=probabilities)
    graph.finalize()
    hist = np.zeros((num_classes, num_classes), np.int64)
    crf_hist = np.zeros_like(hist)
    count = 0
    with v1.Session(graph=graph) as sess:
        sess.run(initialize)
        restore(sess)
        for out in run_batches(sess, fetches, init_op=iterator.initializer):
            hist += confusion_matrix(out["label"], out["pred"], num_classes, ignore)
            if crf_module is not None:
                rgb = np.clip(np.round(out["image"][0]), 0, 255).astype(np.uint8)
                refined = crf_module.refine(rgb, out["probabilities"][0], **refine_options)
                crf_hist += confusion_matrix(out["label"][0], np.argmax(refined, axis=-1),
                                             num_classes, ignore)
            count += 1
    if count == 0:
        raise ValueError(f"dataset {source.name!r} split {split!r} yielded no images to evaluate")
    result = score_report(hist)
    result.update(class_names=list(source.class_names), num_images=count,
                  dataset=source.name, split=split)
    if crf_module is not None:
        result["crf_scores"] = score_report(crf_hist)
    return result


def evaluation_source(config, dataset=None, data_dir=None, dataset_options=None):
    """The run's own dataset (with its options, updated by `dataset_options`) unless another is named."""
    from fcn_graph.data import get_dataset
    name = dataset or config.get("dataset")
    if not name:
        raise ValueError("the run's config.json names no dataset; pass --dataset")
    same = name == config.get("dataset")
    options = dict(config.get("dataset_options") or {}) if same else {}
    options.update(dataset_options or {})
    directory = data_dir if data_dir is not None else (config.get("data_dir") if same else None)
    source = get_dataset(name, directory, **options)
    if source.num_classes != int(config["num_classes"]):
        raise ValueError(f"dataset {name!r} has {source.num_classes} classes but the network "
                         f"was trained for {config['num_classes']}; evaluate on a dataset "
                         f"with the same classes")
    return source


def evaluate_run(checkpoint, dataset=None, data_dir=None, split="val", crf=None,
                 max_images=None, dataset_options=None):
    """Scores of a trained run (directory or checkpoint) on a dataset split.

    The dataset defaults to the run's own. `crf` is True or a dict of
    `fcn_graph.crf.refine` options to also report CRF-refined scores
    under `crf_scores`.
    """
    checkpoint_path = resolve_checkpoint(checkpoint)
    config = run_config(checkpoint)
    source = evaluation_source(config, dataset, data_dir, dataset_options)
    result = evaluate_graph(source, split, lambda images: build_network(config, images),
                            lambda: checkpoint_restorer(checkpoint_path),
                            crf=crf, max_images=max_images)
    result.update(checkpoint=checkpoint_path, model=config["model"])
    return result


def evaluate_weights(path, model, dataset, data_dir=None, split="val", crf=None,
                     max_images=None, dataset_options=None):
    """Scores of a released FCN model file (e.g. a Caffe .caffemodel) without a run directory.

    The network is built in the reference (caffe) geometry with the file's
    own input convention, and every layer, heads included, comes from the file.
    """
    from fcn_graph.data import get_dataset
    from fcn_graph.models import build_model
    from fcn_graph.vgg import BLOCK_CHANNELS
    from fcn_graph.weights import WeightsError, load_weights, restore_backbone
    weights = load_weights(path)
    absent = [layer for layer in ("conv1_1", "score_fr") if layer not in weights.layers]
    if absent:
        raise WeightsError(f"{path}: holds no {' or '.join(absent)}; eval --weights needs a "
                           f"trained FCN model, not a classification backbone")
    file_classes = weights.layers["score_fr"][0].shape[-1]
    source = get_dataset(dataset, data_dir, **(dataset_options or {}))
    if source.num_classes != file_classes:
        raise WeightsError(f"{path}: scores {file_classes} classes but dataset {dataset!r} has "
                           f"{source.num_classes}; evaluate on the dataset the model was "
                           f"trained for")

    # Released models are full width; narrower files (demos, tests) say so by conv1_1.
    width = weights.layers["conv1_1"][0].shape[-1] / BLOCK_CHANNELS[0]

    def build(images):
        return build_model(model, images, file_classes, weights=weights, backbone=weights.arch,
                           geometry="caffe", width=width, dropout_rate=0.0)

    def restorer():
        layers = sorted({v.op.name.rsplit("/", 1)[0] for v in v1.global_variables()})

        def restore(sess):
            report = restore_backbone(sess, weights, strict=True, include_head=True)
            missing = [layer for layer in layers if layer not in report]
            unused = [layer for layer in report.unused if layer != "fc8"]
            if missing or unused:
                raise WeightsError(
                    f"{path}: does not hold a complete {model} (missing: "
                    f"{', '.join(missing) or 'none'}; layers of another head: "
                    f"{', '.join(unused) or 'none'}); pass the --model the file was trained as")
        return restore

    result = evaluate_graph(source, split, build, restorer, crf=crf, max_images=max_images)
    result.update(weights=path, model=model)
    return result
