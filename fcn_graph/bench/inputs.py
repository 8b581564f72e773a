"""The benchmark's inputs and weights, drawn from seeds so every process draws the same."""
import numpy as np


def random_batch(batch, size, num_classes, seed=0):
    """Images (RGB 0..255) and labels with a tenth of the pixels void."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    labels = rng.integers(0, num_classes, (batch, size, size)).astype(np.int32)
    labels[rng.random(labels.shape) < 0.1] = 255
    return images, labels


def randomised(values, seed=0):
    """He-scaled random values for every variable but the fixed bilinear deconvolutions.

    Zero-initialised score layers would make the logits identical in any
    framework; random ones make the comparison of the two renderings mean something.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, value in values.items():
        if "upscore" in name:
            out[name] = value
            continue
        fan_in = int(np.prod(value.shape[:-1])) if value.ndim > 1 else 100
        out[name] = rng.normal(0, np.sqrt(2.0 / fan_in), value.shape).astype(value.dtype)
    return out
