"""Scoring a network on a dataset split: one confusion matrix, the reference scores, one format.

`SplitScorer` is built with a graph (before its first `sess.run`): an
initializable iterator over the split at native size, batch 1, in order,
and the network's predictions on it. `score(sess)` then re-initialises the
iterator, runs the whole split and accumulates one confusion matrix (and
one after dense-CRF refinement when asked). Validation during training
builds it on the training graph's shared variables; `fcn-graph eval`
builds it in a graph of its own.
"""
import math

import numpy as np
import tensorflow as tf

from fcn_graph import crf
from fcn_graph.data import make_dataset
from fcn_graph.errors import DataError
from fcn_graph.metrics import confusion_matrix, scores

v1 = tf.compat.v1

# The four reference scores: key, name in tables, name in one-line summaries.
SUMMARY_ROWS = (("pixel_accuracy", "pixel accuracy", "pixel acc"),
                ("mean_accuracy", "mean accuracy", "mean acc"),
                ("mean_iu", "mean IU", "mean IU"), ("fw_iu", "f.w. IU", "f.w. IU"))


def segmentation_outputs(logits):
    """Per-pixel class probabilities and the most probable class (int32)."""
    return tf.nn.softmax(logits, axis=-1), tf.argmax(logits, axis=-1, output_type=tf.int32)


def as_uint8(image):
    """A float RGB image from the pipeline as the uint8 picture it was decoded from."""
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


class SplitScorer:
    """A split's iterator and the predictions of the network `build(images)` makes on it.

    `crf_options` (a dict of `fcn_graph.crf.refine` keywords, {} for its
    defaults) also scores CRF-refined predictions; `keep_images` fetches
    the input images so that `score` can return examples for panels.
    """

    def __init__(self, source, split, build, max_images=None, tfrecord_pattern=None,
                 crf_options=None, keep_images=False):
        self.source = source
        self.split = split
        self.crf_options = crf_options
        if crf_options is not None:
            crf.require()
        dataset = make_dataset(source, split, batch_size=1, shuffle=False, augment=None,
                               repeat=False, tfrecord_pattern=tfrecord_pattern)
        if max_images is not None:
            dataset = dataset.take(max_images)
        iterator = v1.data.make_initializable_iterator(dataset)
        self.init_op = iterator.initializer
        batch = iterator.get_next()
        net = build(batch["image"])
        probabilities, labels = segmentation_outputs(net.logits)
        self.fetches = {"label": batch["label"], "prediction": labels}
        if crf_options is not None or keep_images:
            self.fetches["image"] = batch["image"]
        if crf_options is not None:
            self.fetches["probabilities"] = probabilities

    def batches(self, sess):
        """`sess.run(fetches)` for every batch of the split, from its start."""
        sess.run(self.init_op)
        while True:
            try:
                yield sess.run(self.fetches)
            except tf.errors.OutOfRangeError:
                return

    def score(self, sess, keep_examples=0):
        """(report, examples): the split's scores and up to `keep_examples`
        (image uint8, label, prediction) triples for image panels.

        The report holds the reference scores, the confusion matrix,
        `num_images` and, with CRF refinement, `crf_scores`.
        """
        num_classes, ignore = self.source.num_classes, self.source.ignore_label
        hist = np.zeros((num_classes, num_classes), np.int64)
        crf_hist = np.zeros_like(hist)
        examples, count = [], 0
        for out in self.batches(sess):
            hist += confusion_matrix(out["label"], out["prediction"], num_classes, ignore)
            if self.crf_options is not None:
                refined = crf.refine(as_uint8(out["image"][0]), out["probabilities"][0],
                                     **self.crf_options)
                crf_hist += confusion_matrix(out["label"][0], np.argmax(refined, axis=-1),
                                             num_classes, ignore)
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
                      dataset=self.source.name, split=self.split)
        if self.crf_options is not None:
            report["crf_scores"] = score_report(crf_hist)
        return report, examples


def score_report(hist):
    """The reference scores of a confusion matrix, plus the matrix itself."""
    report = scores(hist)
    report["confusion_matrix"] = np.asarray(hist).tolist()
    return report


def percent(value):
    return "   n/a" if value is None or math.isnan(value) else f"{100.0 * value:6.2f}"


def format_table(report, class_names):
    """Per-class IoU and accuracy (percent) followed by the four reference scores."""
    width = max([len("class")] + [len(str(name)) for name in class_names])
    accuracy = report.get("per_class_accuracy") or [None] * len(class_names)
    lines = [f"{'class':<{width}}    IoU    acc"]
    for name, iu, acc in zip(class_names, report["per_class_iu"], accuracy):
        lines.append(f"{str(name):<{width}}  {percent(iu)} {percent(acc)}")
    lines.append("")
    lines.extend(f"{label:<15} {percent(report[key])}" for key, label, _ in SUMMARY_ROWS)
    return "\n".join(lines)


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
