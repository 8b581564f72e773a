"""The split scorer: one confusion matrix per pass over a split; one score format; the collapse
warning."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.data import get_dataset
from fcn_graph.metrics import RoadBenchmark, confusion_matrix, scores
from fcn_graph.scoring import SplitScorer, collapse_warning, format_table, summary_line
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


def test_a_scorer_can_run_the_network_from_python_and_feed_the_road_benchmark(tmp_path):
    source = get_dataset("synthetic", str(tmp_path), **SYNTHETIC_OPTIONS)
    road = source.class_names.index("road")

    def predict(sess, image):
        del sess
        return np.eye(SYNTHETIC_CLASSES)[image[..., 0].astype(np.int64) % SYNTHETIC_CLASSES]

    with tf.Graph().as_default() as graph:
        in_graph = SplitScorer(source, "val", Constant, road_class=road)
        from_python = SplitScorer(source, "val", predict=predict, road_class=road)
    with v1.Session(graph=graph) as sess:
        expected, _ = in_graph.score(sess)
        result, _ = from_python.score(sess)
    np.testing.assert_array_equal(result["confusion_matrix"], expected["confusion_matrix"])
    benchmark = RoadBenchmark(road)
    for image_path, label_path, _ in source.examples("val"):
        image = np.asarray(tf.io.decode_png(tf.io.read_file(image_path)))
        benchmark.add(predict(None, image)[..., road], source.read_label(label_path))
    assert result["road"] == expected["road"] == benchmark.scores()
    assert result["road"]["num_images"] == 3
    assert result["per_class_f1"] == pytest.approx(scores(result["confusion_matrix"])["per_class_f1"],
                                                   nan_ok=True)


def test_format_table_marks_absent_classes_and_adds_f1():
    report = {"per_class_iu": [0.5, float("nan")], "per_class_accuracy": [0.25, float("nan")],
              "per_class_f1": [2 / 3, float("nan")], "mean_f1": 2 / 3,
              "pixel_accuracy": 0.9, "mean_accuracy": 0.25, "mean_iu": 0.5, "fw_iu": 0.5}
    table = format_table(report, ["road", "car"])
    lines = table.splitlines()
    assert lines[0].split() == ["class", "IoU", "acc", "F1"]
    assert lines[1].split() == ["road", "50.00", "25.00", "66.67"]
    assert lines[2].split() == ["car", "n/a", "n/a", "n/a"]
    assert "pixel accuracy   90.00" in table and "mean F1 (Dice)   66.67" in table
    assert "KITTI" not in table and "warning" not in table
    assert summary_line(report) == "pixel acc 90.0  mean acc 25.0  mean IU 50.0  f.w. IU 50.0"
    road = {"max_f": 0.9, "average_precision": 0.85, "precision": 0.8, "recall": 1.0,
            "threshold": 0.5, "num_images": 4}
    with_road = format_table(dict(report, road=road, collapse_warning="it has collapsed"), ["road", "car"])
    assert ("KITTI road (4 images): MaxF 90.00  AP 85.00  precision 80.00  recall 100.00  "
            "at threshold 0.500") in with_road
    assert with_road.endswith("warning: it has collapsed")


@pytest.mark.parametrize("hist, warned", [
    ([[500, 0], [495, 5]], True),       # 'sky' for 99.5% of pixels, half of them road
    ([[990, 0], [5, 5]], False),        # the labels themselves are 99% sky
    ([[500, 0], [300, 200]], False),    # several classes predicted
    ([[0, 0], [0, 0]], False),          # nothing counted
])
def test_collapse_warning(hist, warned):
    warning = collapse_warning(hist, ["sky", "road"])
    assert (warning is not None) == warned
    if warned:
        assert "'sky' for 99.5% of the pixels" in warning and "50.0% in other classes" in warning
        for cause in ("learning rate", "loss", "labels", "RGB vs BGR", "mean"):
            assert cause in warning
        assert "\n" not in warning
