"""Test-time augmentation: probabilities averaged over rescaled and mirrored copies of an image."""
import math

import numpy as np

from fcn_graph.errors import SettingsError
from fcn_graph.windows import predict_probabilities, resized


def augmented_probabilities(predict_fn, image, scales=(1.0,), flip=False, from_logits=False):
    """Softmax probabilities (float32 HxWxC) averaged over scales and, with `flip`, mirror images.

    `predict_fn` is as in `fcn_graph.windows` (a float32 NHWC batch in,
    (N, h, w, C) logits or probabilities out); to combine with tiling, give
    it a function that runs `tiled_probabilities` on each image of the batch.

    Each scale s resizes the image to (round(s H), round(s W)) bilinearly
    (skimage `resize`, order 1, edge mode, with skimage's Gaussian
    anti-aliasing when shrinking); the probabilities come back to H x W
    bilinearly without anti-aliasing. A flipped copy is mirrored left-right,
    run in the same batch as the unflipped one, and its output mirrored back.
    Every prediction counts equally in the mean, taken in the input's frame.
    Scale 1 runs the image as it is.
    """
    scales = checked_scales(scales)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must be HxWxC, got shape {image.shape}")
    height, width = image.shape[:2]
    total = 0.0
    for scale in scales:
        scaled = resized(image, max(1, round(scale * height)), max(1, round(scale * width)),
                         anti_aliasing=scale < 1)
        batch = [scaled, scaled[:, ::-1]] if flip else [scaled]
        outputs = list(predict_probabilities(predict_fn, np.stack(batch), from_logits))
        if flip:
            outputs[1] = outputs[1][:, ::-1]
        total = total + sum(resized(output, height, width, anti_aliasing=False)
                            for output in outputs)
    return (total / (len(scales) * (2 if flip else 1))).astype(np.float32)


def checked_scales(scales):
    """The scales as floats, each finite and positive; a SettingsError naming --scales otherwise."""
    try:
        values = [float(scale) for scale in np.atleast_1d(scales)]
    except (TypeError, ValueError):
        values = []
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise SettingsError(f"--scales must be one or more positive numbers such as 0.5,1,1.5; "
                            f"got {scales!r}")
    return values
