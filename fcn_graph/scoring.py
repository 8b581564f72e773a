"""Scoring a network on a dataset split: one confusion matrix, the reference scores, one format.

`SplitScorer` is built with a graph (before its first `sess.run`): an
initializable iterator over the split at native size, batch 1, in order,
and the network's predictions on it. `score(sess)` then re-initialises the
iterator, runs the whole split and accumulates one confusion matrix (and
one after dense-CRF refinement when asked), the KITTI road benchmark when
asked, and a warning when the predictions have collapsed onto one class.
Validation during training builds it on the training graph's shared
variables; `fcn-graph eval` builds it in a graph of its own.
"""
import math

import numpy as np
import tensorflow as tf

from fcn_graph import crf
from fcn_graph.data import make_dataset
from fcn_graph.errors import DataError
from fcn_graph.metrics import RoadBenchmark, confusion_matrix, mean_iu_nan_as_zero, scores

v1 = tf.compat.v1

# The four reference scores: key, name in tables, name in one-line summaries.
SUMMARY_ROWS = (("pixel_accuracy", "pixel accuracy", "pixel acc"),
                ("mean_accuracy", "mean accuracy", "mean acc"),
                ("mean_iu", "mean IU", "mean IU"), ("fw_iu", "f.w. IU", "f.w. IU"))
# Report key of `metrics.mean_iu_nan_as_zero` averaged over the split's images.
PER_IMAGE_MEAN_IU_NAN_AS_ZERO = "per_image_mean_iu_nan_as_zero"
# The KITTI road benchmark's scores: key, name.
ROAD_ROWS = (("max_f", "MaxF"), ("average_precision", "AP"), ("precision", "precision"),
             ("recall", "recall"))
# Predictions collapsed onto one class: its share of the predicted pixels above
# COLLAPSE_SHARE while the labels give other classes at least OTHER_CLASSES_SHARE.
COLLAPSE_SHARE = 0.99
OTHER_CLASSES_SHARE = 0.05


def segmentation_outputs(logits):
    """Per-pixel class probabilities and the most probable class (int32)."""
    return tf.nn.softmax(logits, axis=-1), tf.argmax(logits, axis=-1, output_type=tf.int32)


def as_uint8(image):
    """A float RGB image from the pipeline as the uint8 picture it was decoded from."""
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


class SplitScorer:
    """A split's iterator and the predictions of a network on it.

    The network is either built on the pipeline's batch, `build(images)`
    returning an object with `logits`, or run image by image from Python,
    `predict(sess, image) -> probabilities` (HxWxC, for tiled or augmented
    inference); give one of the two. `crf_options` (a dict of
    `fcn_graph.crf.refine` keywords, {} for its defaults) also scores
    CRF-refined predictions; `keep_images` fetches the input images so that
    `score` can return examples for panels; `road_class` also feeds each
    image's probability of that class to a KITTI `RoadBenchmark`.
    """

    def __init__(self, source, split, build=None, max_images=None, tfrecord_pattern=None,
                 crf_options=None, keep_images=False, predict=None, road_class=None):
        if (build is None) == (predict is None):
            raise ValueError("SplitScorer needs either build or predict")
        self.source = source
        self.split = split
        self.crf_options = crf_options
        self.predict = predict
        self.road_class = road_class
        if crf_options is not None:
            crf.require()
        dataset = make_dataset(source, split, batch_size=1, shuffle=False, augment=None,
                               repeat=False, tfrecord_pattern=tfrecord_pattern)
        if max_images is not None:
            dataset = dataset.take(max_images)
        iterator = v1.data.make_initializable_iterator(dataset)
        self.init_op = iterator.initializer
        batch = iterator.get_next()
        self.fetches = {"label": batch["label"]}
        if predict is not None or crf_options is not None or keep_images:
            self.fetches["image"] = batch["image"]
        if build is not None:
            probabilities, labels = segmentation_outputs(build(batch["image"]).logits)
            self.fetches["prediction"] = labels
            if crf_options is not None or road_class is not None:
                self.fetches["probabilities"] = probabilities

    def batches(self, sess):
        """`sess.run(fetches)` for every batch of the split, from its start, with the
        predictions of `predict` added when the network runs from Python."""
        sess.run(self.init_op)
        while True:
            try:
                out = sess.run(self.fetches)
            except tf.errors.OutOfRangeError:
                return
            if self.predict is not None:
                out["probabilities"] = self.predict(sess, out["image"][0])[None]
                out["prediction"] = np.argmax(out["probabilities"], axis=-1)
            yield out

    def score(self, sess, keep_examples=0):
        """(report, examples): the split's scores and up to `keep_examples`
        (image uint8, label, prediction) triples for image panels.

        The report holds the reference scores, the confusion matrix,
        `num_images`, `collapse_warning` (see `collapse_warning`), with CRF
        refinement `crf_scores` and with a road class `road` (the KITTI
        road benchmark's scores).
        """
        num_classes, ignore = self.source.num_classes, self.source.ignore_label
        hist = np.zeros((num_classes, num_classes), np.int64)
        crf_hist = np.zeros_like(hist)
        road = RoadBenchmark(self.road_class, ignore) if self.road_class is not None else None
        examples, count, image_ious = [], 0, []
        for out in self.batches(sess):
            image_hist = confusion_matrix(out["label"], out["prediction"], num_classes, ignore)
            hist += image_hist
            image_ious.append(mean_iu_nan_as_zero(image_hist))
            if self.crf_options is not None:
                refined = crf.refine(as_uint8(out["image"][0]), out["probabilities"][0],
                                     **self.crf_options)
                crf_hist += confusion_matrix(out["label"][0], np.argmax(refined, axis=-1),
                                             num_classes, ignore)
            if road is not None:
                road.add(out["probabilities"][0, ..., self.road_class], out["label"][0])
            if len(examples) < keep_examples:
                examples.append((as_uint8(out["image"][0]), out["label"][0],
                                 out["prediction"][0]))
            count += 1
        if not hist.any():
            raise DataError(f"dataset {self.source.name!r} split {self.split!r} yielded "
                            f"{'no images' if count == 0 else 'no labelled pixel'} to score; "
                            f"check the split's files with `fcn-graph data check`")
        report = score_report(hist)
        report.update(num_images=count, class_names=list(self.source.class_names),
                      dataset=self.source.name, split=self.split,
                      collapse_warning=collapse_warning(hist, self.source.class_names))
        # A tutorial's Keras metric, per batch of one image; reported, never the score to trust.
        report[PER_IMAGE_MEAN_IU_NAN_AS_ZERO] = float(np.mean(image_ious))
        if self.crf_options is not None:
            report["crf_scores"] = score_report(crf_hist)
        if road is not None:
            report["road"] = road.scores()
        return report, examples


def score_report(hist):
    """The reference scores of a confusion matrix, plus the matrix itself."""
    report = scores(hist)
    report["confusion_matrix"] = np.asarray(hist).tolist()
    return report


def percent(value):
    return "   n/a" if value is None or math.isnan(value) else f"{100.0 * value:6.2f}"


def format_table(report, class_names):
    """Per-class IoU, accuracy and F1 (percent), the four reference scores and mean F1, and
    the KITTI road benchmark's scores and the collapse warning when the report holds them."""
    width = max([len("class")] + [len(str(name)) for name in class_names])
    absent = [None] * len(class_names)
    lines = [f"{'class':<{width}}    IoU    acc     F1"]
    for name, iu, acc, f1 in zip(class_names, report["per_class_iu"],
                                 report.get("per_class_accuracy") or absent,
                                 report.get("per_class_f1") or absent):
        lines.append(f"{str(name):<{width}}  {percent(iu)} {percent(acc)} {percent(f1)}")
    lines.append("")
    lines.extend(f"{label:<15} {percent(report[key])}" for key, label, _ in SUMMARY_ROWS)
    lines.append(f"{'mean F1 (Dice)':<15} {percent(report.get('mean_f1'))}")
    if report.get("road"):
        lines.extend(["", road_line(report["road"])])
    if report.get("collapse_warning"):
        lines.extend(["", f"warning: {report['collapse_warning']}"])
    return "\n".join(lines)


def road_line(road):
    """The KITTI road benchmark's scores (percent) on one line."""
    values = "  ".join(f"{label} {percent(road[key]).strip()}" for key, label in ROAD_ROWS)
    return (f"KITTI road ({road['num_images']} images): {values}  "
            f"at threshold {road['threshold']:.3f}")


def collapse_warning(hist, class_names):
    """A warning (one line) when the predictions have collapsed onto one class, else None.

    Collapse: more than COLLAPSE_SHARE of the predicted pixels in one class
    while the ground truth puts at least OTHER_CLASSES_SHARE of them in
    other classes (a split that is nearly all one class is not a collapse).
    """
    hist = np.asarray(hist, np.float64)
    total = hist.sum()
    if not total:
        return None
    predicted = int(np.argmax(hist.sum(axis=0)))
    share = hist[:, predicted].sum() / total
    others = 1.0 - hist[predicted].sum() / total
    if share <= COLLAPSE_SHARE or others < OTHER_CLASSES_SHARE:
        return None
    return (f"the network predicts '{class_names[predicted]}' for {100 * share:.1f}% of the "
            f"pixels while the labels put {100 * others:.1f}% in other classes: it has "
            f"collapsed to one class. Likely causes: a learning rate too large for the loss "
            f"normalisation (a summed loss, the sgd recipe, needs rates near 1e-10; Adam wants "
            f"--loss-normalize mean), labels that do not match the images (run `fcn-graph "
            f"data check`), or images fed in another convention than the weights were "
            f"trained on (mean colour, RGB vs BGR: --channel-order and --mean)")


def summary_line(report):
    """The four reference scores on one line (percent)."""
    return "  ".join(f"{label} {100 * report[key]:.1f}" for key, _, label in SUMMARY_ROWS
                     if report.get(key) is not None)


def json_ready(value):
    """NaN (a class absent everywhere) -> None, since JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value
