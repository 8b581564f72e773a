"""Segmentation metrics of the FCN reference (`score.py`).

One confusion matrix is accumulated over the whole evaluation set, rows
indexed by ground truth; pixels whose ground truth is outside
[0, num_classes) (the ignore label 255 in particular) are left out. Scores
average over classes with nanmean, so a class absent from both ground
truth and prediction does not count as zero.
"""
import numpy as np


def confusion_matrix(gt, pred, num_classes, ignore_label=255):
    """(num_classes, num_classes) int64 counts: hist[i, j] = pixels of class i predicted j.

    Only the ground truth decides which pixels count; a prediction outside
    the classes on a counted pixel is an error rather than a count in
    another cell.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    # Axes of length one (a batch of one) may differ; the pixel grids may not, or
    # flattening would pair pixels of different places.
    if np.squeeze(gt).shape != np.squeeze(pred).shape:
        raise ValueError(f"ground truth and prediction differ in size: {gt.shape} vs "
                         f"{pred.shape}; pass label maps of the same height and width")
    gt = gt.astype(np.int64).ravel()
    pred = pred.astype(np.int64).ravel()
    keep = (gt >= 0) & (gt < num_classes) & (gt != ignore_label)
    gt, pred = gt[keep], pred[keep]
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        wrong = pred.min() if pred.min() < 0 else pred.max()
        raise ValueError(f"prediction holds class {wrong}, outside [0, num_classes={num_classes}); "
                         f"predictions must be class indices of the same {num_classes} classes")
    return np.bincount(num_classes * gt + pred,
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
