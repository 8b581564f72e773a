"""Fully connected CRF post-processing (Krähenbühl & Koltun 2011) on softmax output.

The unary term is the network's negative log-probability; two pairwise
terms pull labels together: a Gaussian on position alone, which removes
small isolated blobs, and a bilateral on position and colour, which snaps
the coarse upsampled score to the image's edges. Mean-field inference runs
in `pydensecrf` (the optional extra `crf`, package `pydensecrf2`).
"""
import numpy as np

from fcn_graph.errors import MissingDependencyError

INSTALL_HINT = ("dense CRF post-processing needs pydensecrf2: "
                "pip install 'fcn-graph[crf]' (or pip install pydensecrf2)")
# Probabilities are clipped away from zero before the log so a confident
# network never produces an infinite unary.
MIN_PROBABILITY = 1e-8


def available():
    """True when the CRF backend imports."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def require():
    """Raise MissingDependencyError, saying how to install it, when the backend is missing."""
    if not available():
        raise MissingDependencyError(INSTALL_HINT)


def backend():
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    return densecrf


def check_inputs(image_uint8, probs):
    image = np.asarray(image_uint8)
    probs = np.asarray(probs)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"crf.refine needs an (H, W, 3) uint8 RGB image, got {image.dtype} "
                         f"{image.shape}; convert with np.clip(image, 0, 255).astype(np.uint8)")
    if probs.ndim != 3 or probs.shape[:2] != image.shape[:2] or probs.shape[-1] < 2:
        raise ValueError(f"crf.refine needs (H, W, C>=2) probabilities on the image's grid "
                         f"{image.shape[:2]}, got {probs.shape}; pass softmax(logits)[0]")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or \
            not np.allclose(probs.sum(-1), 1.0, atol=1e-3):
        raise ValueError("crf.refine needs probabilities (finite, >= 0, summing to 1 over "
                         "classes); apply a softmax to the logits first")
    # A copy: pydensecrf needs a writable buffer, and PIL-backed arrays are read-only.
    return np.array(image, order="C", copy=True), probs


def refine(image_uint8, probs, iterations=5, gaussian_sxy=3, gaussian_compat=3,
           bilateral_sxy=80, bilateral_srgb=13, bilateral_compat=10):
    """Mean-field refined (H, W, C) float32 probabilities for an (H, W, 3) uint8 RGB image.

    `*_sxy` are kernel widths in pixels, `bilateral_srgb` in colour levels,
    `*_compat` the Potts weights of each term. Zero iterations return the
    (clipped, renormalised) input.
    """
    image, probs = check_inputs(image_uint8, probs)
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations!r}")
    densecrf = backend()
    height, width, classes = probs.shape
    clipped = np.clip(probs.astype(np.float32), MIN_PROBABILITY, 1.0)
    unary = -np.log(clipped / clipped.sum(-1, keepdims=True))
    crf = densecrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary.reshape(-1, classes).T))
    crf.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat)
    crf.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb, rgbim=image,
                             compat=bilateral_compat)
    refined = np.array(crf.inference(int(iterations)), dtype=np.float32)
    return refined.T.reshape(height, width, classes)
