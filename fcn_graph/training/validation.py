"""Validation during and after training: a weight-sharing tower over a re-initialisable iterator.

The tower is built with the training graph (before the first `sess.run`);
each evaluation re-initialises its iterator, runs the whole subset and
accumulates one confusion matrix with the reference metrics.
"""
import numpy as np
import tensorflow as tf

from fcn_graph.data import make_dataset
from fcn_graph.evaluation import run_batches
from fcn_graph.metrics import confusion_matrix, scores
from fcn_graph.models import build_model

v1 = tf.compat.v1


class ValidationTower:
    def __init__(self, source, split, num_classes, model, model_options, weights=None,
                 max_images=None, seed=None, tfrecord_pattern=None):
        self.num_classes = num_classes
        self.ignore_label = source.ignore_label
        dataset = make_dataset(source, split, batch_size=1, shuffle=False, seed=seed,
                               repeat=False, tfrecord_pattern=tfrecord_pattern)
        if max_images is not None:
            dataset = dataset.take(max_images)
        iterator = v1.data.make_initializable_iterator(dataset)
        self.init_op = iterator.initializer
        batch = iterator.get_next()
        with v1.variable_scope(v1.get_variable_scope(), reuse=True), tf.name_scope("validation"):
            net = build_model(model, batch["image"], num_classes, is_training=tf.constant(False),
                              weights=weights, **model_options)
            self.fetches = {"image": batch["image"], "label": batch["label"],
                            "prediction": tf.argmax(net.logits, axis=-1, output_type=tf.int32)}

    def evaluate(self, sess, keep_examples=0):
        """(scores dict, [(image uint8, label, prediction)] of the first `keep_examples` images)."""
        hist = np.zeros((self.num_classes, self.num_classes), np.int64)
        examples = []
        for out in run_batches(sess, self.fetches, init_op=self.init_op):
            hist += confusion_matrix(out["label"], out["prediction"], self.num_classes,
                                     self.ignore_label)
            for image, label, prediction in zip(out["image"], out["label"], out["prediction"]):
                if len(examples) < keep_examples:
                    examples.append((np.clip(np.round(image), 0, 255).astype(np.uint8), label,
                                     prediction))
        if not hist.any():
            raise ValueError("the validation split delivered no labelled pixel to score")
        return scores(hist), examples


def format_scores(result, class_names):
    """Pixel accuracy, mean IU and a per-class IoU table, as printed at the end of training."""
    lines = [f"pixel accuracy {result['pixel_accuracy']:.4f}   mean accuracy "
             f"{result['mean_accuracy']:.4f}   mean IU {result['mean_iu']:.4f}   "
             f"f.w. IU {result['fw_iu']:.4f}"]
    width = max([len(n) for n in class_names] + [5])
    lines.append(f"{'class':<{width}}  IoU")
    for name, iou in zip(class_names, result["per_class_iu"]):
        lines.append(f"{name:<{width}}  " + ("  n/a" if np.isnan(iou) else f"{iou:.4f}"))
    return "\n".join(lines)
