"""The reference segmentation metrics and the KITTI road scores on hand-computed and numpy cases."""
import math

import numpy as np
import pytest

from fcn_graph.metrics import RoadBenchmark, confusion_matrix, scores

# Ground truth with a void pixel (255) and the prediction of a 3-class net.
GT = np.array([[0, 0, 1], [1, 2, 255]])
PRED = np.array([[0, 1, 1], [2, 2, 0]])
# Rows: ground truth 0..2; columns: prediction. The void pixel is left out.
HIST = np.array([[1, 1, 0],
                 [0, 1, 1],
                 [0, 0, 1]])


def test_confusion_matrix_by_hand():
    hist = confusion_matrix(GT, PRED, 3)
    np.testing.assert_array_equal(hist, HIST)
    assert hist.sum() == 5


def test_void_pixels_are_excluded_by_ground_truth_only():
    # Whatever is predicted under a void pixel does not count.
    for guess in (0, 1, 2):
        pred = PRED.copy()
        pred[1, 2] = guess
        np.testing.assert_array_equal(confusion_matrix(GT, pred, 3), HIST)
    # Ground truth outside [0, n) is also left out, and another ignore label is honoured.
    np.testing.assert_array_equal(confusion_matrix([[7, 0]], [[0, 0]], 3), [[1, 0, 0], [0] * 3, [0] * 3])
    np.testing.assert_array_equal(confusion_matrix([[1, 0]], [[1, 1]], 3, ignore_label=1),
                                  [[0, 1, 0], [0] * 3, [0] * 3])


def test_reference_formulas_by_hand():
    s = scores(confusion_matrix(GT, PRED, 3))
    assert s["pixel_accuracy"] == pytest.approx(3 / 5)
    assert s["mean_accuracy"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    ius = [1 / 2, 1 / 3, 1 / 2]  # n_ii / (t_i + predicted_i - n_ii)
    assert s["per_class_iu"] == pytest.approx(ius)
    assert s["mean_iu"] == pytest.approx(sum(ius) / 3)
    assert s["fw_iu"] == pytest.approx((2 * 1 / 2 + 2 * 1 / 3 + 1 * 1 / 2) / 5)


def test_one_matrix_over_the_set_not_a_mean_of_images():
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 4, size) for size in ((5, 7), (20, 30), (3, 3))]
    for gt in gts:
        gt[0, 0] = 255
    preds = [rng.integers(0, 4, gt.shape) for gt in gts]
    total = sum(confusion_matrix(g, p, 4) for g, p in zip(gts, preds))
    flat = confusion_matrix(np.concatenate([g.ravel() for g in gts]),
                            np.concatenate([p.ravel() for p in preds]), 4)
    np.testing.assert_array_equal(total, flat)
    per_image = np.mean([scores(confusion_matrix(g, p, 4))["mean_iu"] for g, p in zip(gts, preds)])
    assert scores(total)["mean_iu"] != pytest.approx(per_image)


def test_formulas_match_per_class_loops():
    rng = np.random.default_rng(1)
    hist = rng.integers(0, 50, (5, 5))
    s = scores(hist)
    t = hist.sum(axis=1)
    predicted = hist.sum(axis=0)
    iu = [hist[i, i] / (t[i] + predicted[i] - hist[i, i]) for i in range(5)]
    assert s["per_class_iu"] == pytest.approx(iu)
    assert s["mean_accuracy"] == pytest.approx(np.mean([hist[i, i] / t[i] for i in range(5)]))
    assert s["fw_iu"] == pytest.approx(sum(t[i] * iu[i] for i in range(5)) / t.sum())
    assert s["pixel_accuracy"] == pytest.approx(np.trace(hist) / hist.sum())


def test_absent_class_is_skipped_by_nanmean_but_a_false_positive_counts():
    # Class 2 never occurs and is never predicted: NaN, not averaged in as 0.
    hist = confusion_matrix([[0, 1, 1]], [[0, 1, 1]], 3)
    s = scores(hist)
    assert math.isnan(s["per_class_iu"][2])
    assert s["mean_iu"] == pytest.approx(1.0)
    assert s["mean_accuracy"] == pytest.approx(1.0)
    # Class 2 absent from the ground truth but predicted once: IU 0 enters the mean,
    # its accuracy (0 / 0) stays out.
    s = scores(confusion_matrix([[0, 1, 1]], [[0, 1, 2]], 3))
    assert s["per_class_iu"] == pytest.approx([1.0, 0.5, 0.0])
    assert s["mean_iu"] == pytest.approx(0.5)
    assert s["mean_accuracy"] == pytest.approx((1.0 + 0.5) / 2)


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)


def test_empty_matrix_scores_nan_everywhere():
    result = scores(confusion_matrix(np.full(4, 255), np.zeros(4), 3))
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu"):
        assert np.isnan(result[key]), key


def test_per_class_accuracy_is_recall_per_ground_truth_class():
    result = scores(confusion_matrix([0, 0, 0, 1, 2], [0, 0, 1, 1, 1], 4))
    np.testing.assert_allclose(result["per_class_accuracy"][:3], [2 / 3, 1.0, 0.0])
    assert np.isnan(result["per_class_accuracy"][3])


def test_a_transposed_prediction_of_the_same_size_is_an_error():
    # Same number of pixels, different grid: flattening both would pair wrong pixels.
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        confusion_matrix(np.zeros((2, 3)), np.zeros((3, 2)), 3)
    # A batch axis of one on either side is the same grid.
    np.testing.assert_array_equal(confusion_matrix(GT[None], PRED, 3), HIST)


def test_a_prediction_outside_the_classes_is_an_error_not_another_cell():
    # 3 * 0 + 3 would land in row 1, column 0.
    with pytest.raises(ValueError, match="prediction.*3.*num_classes"):
        confusion_matrix([[0, 1]], [[3, 1]], 3)
    # Under a void pixel any prediction is ignored, as the reference does.
    np.testing.assert_array_equal(confusion_matrix([[255, 1]], [[7, 1]], 3),
                                  [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_f1_by_hand_and_as_a_function_of_iu():
    s = scores(confusion_matrix(GT, PRED, 3))
    # 2 TP / (ground-truth pixels + predicted pixels), per class.
    f1 = [2 * 1 / (2 + 1), 2 * 1 / (2 + 2), 2 * 1 / (1 + 2)]
    assert s["per_class_f1"] == pytest.approx(f1)
    assert s["mean_f1"] == pytest.approx(sum(f1) / 3)
    hist = np.random.default_rng(2).integers(0, 50, (6, 6))
    s = scores(hist)
    iu = np.array(s["per_class_iu"])
    np.testing.assert_allclose(s["per_class_f1"], 2 * iu / (1 + iu))
    # The existing keys keep their values beside the new ones.
    assert s["mean_iu"] == pytest.approx(np.mean(iu))


def test_f1_skips_absent_classes_like_iu():
    s = scores(confusion_matrix([[0, 1, 1]], [[0, 1, 1]], 3))
    assert math.isnan(s["per_class_f1"][2])
    assert s["mean_f1"] == pytest.approx(1.0)
    assert math.isnan(scores(np.zeros((3, 3)))["mean_f1"])


def road_scores_by_loops(probabilities, labels, thresholds, road=1, ignore=255):
    """The KITTI road scores written out threshold by threshold over the pooled pixels."""
    tp = np.zeros(len(thresholds))
    fp = np.zeros(len(thresholds))
    positives = 0
    for probability, label in zip(probabilities, labels):
        counted = label != ignore
        is_road = counted & (label == road)
        not_road = counted & (label != road)
        positives += is_road.sum()
        for k, t in enumerate(thresholds):
            tp[k] += np.count_nonzero(is_road & (probability >= t))
            fp[k] += np.count_nonzero(not_road & (probability >= t))
    points = []  # (precision, recall, threshold) where anything was found
    for k, t in enumerate(thresholds):
        if tp[k] > 0:
            points.append((tp[k] / (tp[k] + fp[k]), tp[k] / positives, t))
    f = [2 * p * r / (p + r) for p, r, _ in points]
    best = points[int(np.argmax(f))]
    ap = 0.0
    for i in range(11):
        ap += max([p for p, r, _ in points if r >= i * 0.1], default=0.0) / 11
    return {"max_f": max(f), "average_precision": ap, "precision": best[0], "recall": best[1],
            "threshold": best[2]}


@pytest.fixture
def road_images():
    rng = np.random.default_rng(3)
    probabilities, labels = [], []
    for height, width in ((12, 20), (9, 9), (15, 7)):
        label = (rng.uniform(size=(height, width)) < 0.4).astype(np.int64)
        label[rng.uniform(size=label.shape) < 0.1] = 255
        noisy = np.clip(0.35 * label.clip(0, 1) + rng.uniform(0, 0.7, label.shape), 0, 1)
        probabilities.append(noisy)
        labels.append(label)
    # One map as the devkit reads it, on the thresholds exactly: ">=" must count them.
    probabilities[1] = np.round(probabilities[1] * 255) / 255
    return probabilities, labels


def test_road_scores_equal_a_threshold_by_threshold_count(road_images):
    probabilities, labels = road_images
    benchmark = RoadBenchmark()
    for probability, label in zip(probabilities, labels):
        benchmark.add(probability, label)
    result = benchmark.scores()
    expected = road_scores_by_loops(probabilities, labels, np.arange(256) / 255)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    assert result["num_images"] == 3
    assert result["road_pixels"] == sum(int(np.sum(label == 1)) for label in labels)
    assert 0.5 < result["max_f"] < 1.0 and 0.5 < result["average_precision"] < 1.0


def test_road_scores_pool_pixels_over_images(road_images):
    probabilities, labels = road_images
    streamed, pooled = RoadBenchmark(), RoadBenchmark()
    for probability, label in zip(probabilities, labels):
        streamed.add(probability, label)
    pooled.add(np.concatenate([p.ravel() for p in probabilities]),
               np.concatenate([label.ravel() for label in labels]))
    assert streamed.scores()["max_f"] == pooled.scores()["max_f"]
    one_by_one = []
    for probability, label in zip(probabilities, labels):
        single = RoadBenchmark()
        single.add(probability, label)
        one_by_one.append(single.scores()["max_f"])
    assert streamed.scores()["max_f"] != pytest.approx(np.mean(one_by_one))


def test_road_scores_by_hand():
    # Three road pixels (0.9, 0.6, 0.2), two others (0.7, 0.1), one unlabelled.
    benchmark = RoadBenchmark(thresholds=[0.0, 0.5, 0.8])
    benchmark.add([[0.9, 0.6, 0.2, 0.7, 0.1, 0.95]], [[1, 1, 1, 0, 0, 255]])
    # t=0: P 3/5 R 1; t=0.5: P 2/3 R 2/3; t=0.8: P 1 R 1/3.
    f = [2 * 0.6 / 1.6, 2 / 3, 2 * (1 / 3) / (4 / 3)]
    result = benchmark.scores()
    assert result["max_f"] == pytest.approx(max(f))
    assert (result["precision"], result["recall"], result["threshold"]) == \
        pytest.approx((0.6, 1.0, 0.0))
    # Recall >= 0, 0.1, 0.2, 0.3: best precision 1; 0.4 .. 0.6: 2/3; 0.7 .. 1: 3/5.
    assert result["average_precision"] == pytest.approx((4 * 1 + 3 * 2 / 3 + 4 * 0.6) / 11)


def test_perfect_road_probabilities_score_one_and_no_road_scores_nan():
    benchmark = RoadBenchmark()
    label = np.array([[1, 0], [0, 1]])
    benchmark.add(label.astype(float), label)
    result = benchmark.scores()
    assert result["max_f"] == result["average_precision"] == 1.0
    assert result["threshold"] > 0
    empty = RoadBenchmark()
    empty.add(np.full((2, 2), 0.5), np.zeros((2, 2)))
    assert math.isnan(empty.scores()["max_f"])


def test_road_benchmark_refuses_mismatched_sizes_and_unsorted_thresholds():
    with pytest.raises(ValueError, match="differ in size"):
        RoadBenchmark().add(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="increasing"):
        RoadBenchmark(thresholds=[0.5, 0.2])
