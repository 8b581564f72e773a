"""Segmentation metrics of the FCN reference (`score.py`).

One confusion matrix is accumulated over the whole evaluation set, rows
indexed by ground truth; pixels whose ground truth is outside
[0, num_classes) (the ignore label 255 in particular) are left out. Scores
average over classes with nanmean, so a class absent from both ground
truth and prediction does not count as zero.
"""
import numpy as np


def confusion_matrix(gt, pred, num_classes, ignore_label=255):
    """(num_classes, num_classes) int64 counts: hist[i, j] = pixels of class i predicted j."""
    gt = np.asarray(gt).astype(np.int64).ravel()
    pred = np.asarray(pred).astype(np.int64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth and prediction differ in size: {gt.size} vs {pred.size}")
    keep = (gt >= 0) & (gt < num_classes) & (gt != ignore_label)
    return np.bincount(num_classes * gt[keep] + pred[keep],
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def scores(hist):
    """Pixel accuracy, mean accuracy, mean IU, frequency-weighted IU, per-class IU and accuracy.

    An empty matrix (every pixel ignored) scores NaN throughout rather than 0.
    """
    hist = np.asarray(hist, dtype=np.float64)
    correct = np.diag(hist)
    gt_pixels = hist.sum(axis=1)
    union = gt_pixels + hist.sum(axis=0) - correct
    with np.errstate(divide="ignore", invalid="ignore"):
        class_acc = correct / gt_pixels
        iu = correct / union
        pixel_acc = correct.sum() / hist.sum()
        freq = gt_pixels / hist.sum()
    present = gt_pixels > 0
    return {
        "pixel_accuracy": float(pixel_acc),
        "mean_accuracy": float(np.nanmean(class_acc)) if present.any() else float("nan"),
        "mean_iu": float(np.nanmean(iu)) if np.any(union) else float("nan"),
        "fw_iu": float((freq[present] * iu[present]).sum()) if present.any() else float("nan"),
        "per_class_iu": [float(v) for v in iu],
        "per_class_accuracy": [float(v) for v in class_acc],
    }
