"""Segmentation metrics of the FCN reference (`score.py`) and of the KITTI road benchmark.

One confusion matrix is accumulated over the whole evaluation set, rows
indexed by ground truth; pixels whose ground truth is outside
[0, num_classes) (the ignore label 255 in particular) are left out. Scores
average over classes with nanmean, so a class absent from both ground
truth and prediction does not count as zero.

The KITTI road benchmark scores the road probability itself rather than a
label map: `RoadBenchmark` sweeps a threshold over it, image by image.
"""
import numpy as np

# The devkit's sweep: 256 thresholds, the values an 8-bit probability PNG can hold.
KITTI_THRESHOLDS = np.arange(256) / 255.0
# Recall levels of the devkit's average precision (Pascal VOC 2007's 11 points).
# They are i * 0.1 as floating point computes it (0.30000000000000004, ...), as there.
KITTI_RECALL_LEVELS = np.linspace(0.0, 1.0, 11)


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
    """Pixel accuracy, mean accuracy, mean IU, frequency-weighted IU, per-class IU and accuracy,
    and per-class and mean F1.

    F1 of a class, 2 TP / (2 TP + FP + FN), is its Dice coefficient on hard
    labels; like IU it is NaN for a class neither in the ground truth nor
    predicted, and its mean is a nanmean. An empty matrix (every pixel
    ignored) scores NaN throughout rather than 0.
    """
    hist = np.asarray(hist, dtype=np.float64)
    correct = np.diag(hist)
    gt_pixels = hist.sum(axis=1)
    union = gt_pixels + hist.sum(axis=0) - correct
    with np.errstate(divide="ignore", invalid="ignore"):
        class_acc = correct / gt_pixels
        iu = correct / union
        f1 = 2 * correct / (gt_pixels + hist.sum(axis=0))
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
        "mean_f1": float(np.nanmean(f1)) if np.any(union) else float("nan"),
        "per_class_f1": [float(v) for v in f1],
    }


def mean_iu_nan_as_zero(hist):
    """Mean IU over all classes, a class neither in the ground truth nor predicted counting 0.

    The number of the per-batch Keras metric some tutorials print (IoU of
    each class, NaN set to 0, averaged), computed on one batch's matrix. It
    is not the reference mean IU: classes a batch lacks pull it down, so it
    depends on the batch size and order; `scores` is the metric to trust.
    """
    hist = np.asarray(hist, dtype=np.float64)
    correct = np.diag(hist)
    union = hist.sum(axis=0) + hist.sum(axis=1) - correct
    with np.errstate(divide="ignore", invalid="ignore"):
        iu = np.where(union > 0, correct / union, 0.0)
    return float(iu.mean())


class RoadBenchmark:
    """The KITTI road benchmark's pixel scores (MaxF, AP, precision and recall at MaxF), streamed.

    `add(road_probability, labels)` counts one image; `scores()` reads the
    totals over every image added so far. As the devkit (`helper.py`,
    `evalExp` and `pxEval_maximizeFMeasure`) does:

    - a pixel is predicted road at threshold t when its probability is >= t,
      for t in `thresholds` (default the devkit's 0, 1/255, ..., 1);
      ground truth is road where `labels == road_class`, not road elsewhere,
      and pixels labelled `ignore_label` (KITTI's unlabelled black) do not
      count;
    - true positives, false positives and false negatives are summed over
      all images per threshold before any ratio is taken;
    - thresholds where precision and recall are both 0 are dropped; F is
      2 P R / (P + R), MaxF its maximum (the first threshold reaching it),
      reported with the precision, recall and threshold there;
    - AP is the 11-point interpolated precision: the mean over recall levels
      r = 0, 0.1, ..., 1 of the highest precision at any threshold with
      recall >= r.

    Departures: the devkit's 1e-10 guards in the denominators are left out
    (they change scores by about 1e-10); a recall level no threshold reaches
    (only possible with thresholds above 0) adds precision 0 where the
    devkit would fail; the threshold reported is the one the maximum was
    found at, where the devkit indexes the unfiltered list with the filtered
    index. The devkit reads probabilities from 8-bit PNGs; pass values
    rounded the same way to reproduce its numbers exactly.
    """

    def __init__(self, road_class=1, ignore_label=255, thresholds=KITTI_THRESHOLDS):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        if self.thresholds.ndim != 1 or not self.thresholds.size or \
                np.any(np.diff(self.thresholds) <= 0):
            raise ValueError("thresholds must be a non-empty increasing sequence")
        self.road_class = road_class
        self.ignore_label = ignore_label
        self.true_positives = np.zeros(self.thresholds.size, np.int64)
        self.false_positives = np.zeros(self.thresholds.size, np.int64)
        self.road_pixels = 0
        self.other_pixels = 0
        self.num_images = 0

    def add(self, road_probability, labels):
        """Count one image: its road probability (HxW floats) and its label map (HxW)."""
        road_probability, labels = np.asarray(road_probability), np.asarray(labels)
        if road_probability.shape != labels.shape:
            raise ValueError(f"road probability and labels differ in size: "
                             f"{road_probability.shape} vs {labels.shape}")
        counted = labels != self.ignore_label
        road = labels[counted] == self.road_class
        probability = road_probability[counted]
        self.true_positives += self.at_or_above(probability[road])
        self.false_positives += self.at_or_above(probability[~road])
        self.road_pixels += int(road.sum())
        self.other_pixels += int(road.size - road.sum())
        self.num_images += 1

    def at_or_above(self, probabilities):
        """How many of `probabilities` are >= each threshold."""
        # Thresholds at or below each value: the value counts for thresholds 0..k-1.
        passed = np.searchsorted(self.thresholds, probabilities, side="right")
        below_each = np.bincount(passed, minlength=self.thresholds.size + 1)
        return probabilities.size - np.cumsum(below_each)[:-1]

    def scores(self):
        """{max_f, average_precision, precision, recall, threshold, road_pixels, other_pixels,
        num_images}; NaN scores while no road pixel has been counted."""
        result = {"road_pixels": self.road_pixels, "other_pixels": self.other_pixels,
                  "num_images": self.num_images}
        tp, fp = self.true_positives.astype(np.float64), self.false_positives.astype(np.float64)
        if not self.road_pixels:
            nan = float("nan")
            return dict(result, max_f=nan, average_precision=nan, precision=nan, recall=nan,
                        threshold=nan)
        recall = tp / self.road_pixels
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        kept = (recall > 0) | (precision > 0)
        recall, precision, thresholds = recall[kept], precision[kept], self.thresholds[kept]
        if not recall.size:
            return dict(result, max_f=0.0, average_precision=0.0, precision=0.0, recall=0.0,
                        threshold=float("nan"))
        f_measure = 2 * precision * recall / (precision + recall)
        best = int(np.argmax(f_measure))
        interpolated = [precision[recall >= level].max() if np.any(recall >= level) else 0.0
                        for level in KITTI_RECALL_LEVELS]
        return dict(result, max_f=float(f_measure[best]),
                    average_precision=float(np.mean(interpolated)),
                    precision=float(precision[best]), recall=float(recall[best]),
                    threshold=float(thresholds[best]))
