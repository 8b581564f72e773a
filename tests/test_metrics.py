"""The reference segmentation metrics on hand-computed cases."""
import math

import numpy as np
import pytest

from fcn_graph.metrics import confusion_matrix, scores

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
