"""Per-class loss weights from the label statistics of a training set, or given by hand.

`count_pixels` walks the label maps once; `class_weights` turns the counts
into one weight per class for `pixelwise_softmax_loss(class_weights=...)`.
Only labelled pixels count: the ignore label is left out everywhere.
"""
import math
from dataclasses import dataclass

import numpy as np

from fcn_graph.errors import DataError, SettingsError

METHODS = ("median-frequency", "inverse-sqrt")


@dataclass(frozen=True)
class PixelCounts:
    """Label statistics of a set of label maps, per class (arrays of num_classes int64).

    `pixels[c]`: pixels labelled c. `present_pixels[c]`: labelled pixels of
    the images in which c occurs at all. `images[c]`: how many images hold c.
    """
    pixels: np.ndarray
    present_pixels: np.ndarray
    images: np.ndarray
    num_images: int

    @property
    def num_classes(self):
        return len(self.pixels)


def count_pixels(label_arrays, num_classes, ignore_label=255):
    """PixelCounts over an iterable of label maps (any shape of integers).

    A label outside [0, num_classes) that is not `ignore_label` is a DataError
    naming the map's position in the iterable.
    """
    pixels = np.zeros(num_classes, np.int64)
    present_pixels = np.zeros(num_classes, np.int64)
    images = np.zeros(num_classes, np.int64)
    count = 0
    for index, labels in enumerate(label_arrays):
        labels = np.asarray(labels).ravel()
        labels = labels[labels != ignore_label].astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            wrong = labels.min() if labels.min() < 0 else labels.max()
            raise DataError(f"label map {index} holds class {wrong}, outside [0, {num_classes}) "
                            f"and not the ignore label {ignore_label}; check the dataset's labels")
        per_class = np.bincount(labels, minlength=num_classes)
        present = per_class > 0
        pixels += per_class
        present_pixels[present] += labels.size
        images[present] += 1
        count += 1
    return PixelCounts(pixels, present_pixels, images, count)


def class_weights(pixel_counts, method, num_classes=None):
    """float32 weights (num_classes,) for the loss, by `method`:

    - "median-frequency" (Eigen & Fergus 2015): freq_c = pixels of class c /
      labelled pixels of the images where c is present; weight_c =
      median over classes of freq / freq_c. Its scale is the paper's, not
      normalised.
    - "inverse-sqrt": weight_c proportional to 1 / sqrt(p_c), p_c = pixels of
      class c / all labelled pixels, scaled so that the mean weight over all
      labelled pixels is 1 (sum_c p_c weight_c = 1): a summed loss keeps its
      unweighted size on this data.
    - an explicit list, "w1,w2,..." (or a sequence of numbers): one
      non-negative weight per class, not all zero; `pixel_counts` may then be
      None if `num_classes` is given.

    A class with no pixel in the counts gets weight 0 from the statistical
    methods (it cannot enter the loss on this data) and stays out of the
    median. Bad methods or lists raise SettingsError naming --class-weights.
    """
    if num_classes is None:
        if pixel_counts is None:
            raise ValueError("class_weights needs pixel_counts or num_classes")
        num_classes = pixel_counts.num_classes
    if isinstance(method, str) and method in METHODS:
        return statistical_weights(pixel_counts, method)
    return explicit_weights(method, num_classes)


def statistical_weights(counts, method):
    present = counts.pixels > 0
    if not present.any():
        raise DataError(f"no labelled pixel in {counts.num_images} label maps: --class-weights "
                        f"{method} needs labelled training data")
    weights = np.zeros(counts.num_classes)
    if method == "median-frequency":
        frequency = counts.pixels[present] / counts.present_pixels[present]
        weights[present] = np.median(frequency) / frequency
    else:
        root = np.sqrt(counts.pixels[present] / counts.pixels.sum())
        weights[present] = 1.0 / (root * root.sum())
    return weights.astype(np.float32)


def explicit_weights(value, num_classes):
    """The weights of a "w1,w2,..." string or a sequence, checked against num_classes."""
    text = value if isinstance(value, str) else ",".join(str(v) for v in np.atleast_1d(value))
    usage = (f"--class-weights takes {', '.join(METHODS)} or {num_classes} comma-separated "
             f"non-negative numbers, one per class")
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        raise SettingsError(f"{usage}; got {text!r}") from None
    if len(weights) != num_classes:
        raise SettingsError(f"{usage}; got {len(weights)} numbers in {text!r}")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise SettingsError(f"{usage}, not all zero; got {text!r}")
    return np.array(weights, np.float32)
