"""The split scorer: one confusion matrix per pass over a split; one score format."""
import numpy as np
import tensorflow as tf

from fcn_graph.data import get_dataset
from fcn_graph.metrics import confusion_matrix
from fcn_graph.scoring import SplitScorer, format_table, summary_line
from fixtures import SYNTHETIC_CLASSES, SYNTHETIC_OPTIONS

v1 = tf.compat.v1


class Constant:
    """A 'network' predicting from the image alone: class = red channel mod classes."""

    def __init__(self, images):
        red = tf.cast(images[..., 0], tf.int32) % SYNTHETIC_CLASSES
        self.logits = tf.one_hot(red, SYNTHETIC_CLASSES)


def test_a_scorer_sums_every_image_and_starts_over_on_each_call(tmp_path):
    source = get_dataset("synthetic", str(tmp_path), **SYNTHETIC_OPTIONS)
    with tf.Graph().as_default() as graph:
        scorer = SplitScorer(source, "val", Constant, keep_images=True)
        partial = SplitScorer(source, "val", Constant, max_images=2)
    expected = np.zeros((SYNTHETIC_CLASSES, SYNTHETIC_CLASSES), np.int64)
    for image_path, label_path, _ in source.examples("val"):
        image = np.asarray(tf.io.decode_png(tf.io.read_file(image_path)))
        expected += confusion_matrix(source.read_label(label_path),
                                     image[..., 0].astype(np.int64) % SYNTHETIC_CLASSES,
                                     SYNTHETIC_CLASSES)
    with v1.Session(graph=graph) as sess:
        first, examples = scorer.score(sess, keep_examples=2)
        second, _ = scorer.score(sess)
        two, _ = partial.score(sess)
    np.testing.assert_array_equal(first["confusion_matrix"], expected)
    assert first == second and first["num_images"] == 3 and two["num_images"] == 2
    assert len(examples) == 2 and examples[0][0].dtype == np.uint8


def test_format_table_marks_absent_classes():
    scores = {"per_class_iu": [0.5, float("nan")], "per_class_accuracy": [0.25, float("nan")],
              "pixel_accuracy": 0.9, "mean_accuracy": 0.25, "mean_iu": 0.5, "fw_iu": 0.5}
    table = format_table(scores, ["road", "car"])
    lines = table.splitlines()
    assert lines[1].split() == ["road", "50.00", "25.00"]
    assert lines[2].split() == ["car", "n/a", "n/a"]
    assert "pixel accuracy   90.00" in table
    assert summary_line(scores) == "pixel acc 90.0  mean acc 25.0  mean IU 50.0  f.w. IU 50.0"
