"""Fully connected CRF post-processing (Krähenbühl & Koltun 2011) on softmax output.

The unary term is the network's negative log-probability; two pairwise
terms pull labels together: a Gaussian on position alone, which removes
small isolated blobs, and a bilateral on position and colour, which snaps
the coarse upsampled score to the image's edges. Mean-field inference runs
in `pydensecrf` (the optional extra `crf`, package `pydensecrf2`).

`refine`'s keywords are its settings; PRESETS name sets of them (the
single-image tutorial's among them), and `add_arguments` / `chosen_options`
give every setting a `--crf-...` flag.
"""
import argparse
from dataclasses import dataclass

import numpy as np

from fcn_graph.errors import MissingDependencyError

INSTALL_HINT = ("dense CRF post-processing needs pydensecrf2: "
                "pip install 'fcn-graph[crf]' (or pip install pydensecrf2)")
# Probabilities are clipped away from zero before the log so a confident
# network never produces an infinite unary.
MIN_PROBABILITY = 1e-8
# Kernel shapes and normalisations of a pairwise term: name -> pydensecrf constant.
KERNELS = {"const": "CONST_KERNEL", "diag": "DIAG_KERNEL", "full": "FULL_KERNEL"}
NORMALIZATIONS = {"none": "NO_NORMALIZATION", "before": "NORMALIZE_BEFORE",
                  "after": "NORMALIZE_AFTER", "symmetric": "NORMALIZE_SYMMETRIC"}
# Named settings of `refine` ("default": its own keyword defaults, DeepLab's). The
# single-image FCN-32s tutorial's: Gaussian sdims (10, 10) compat 3, bilateral sdims
# (50, 50) and schan (20, 20, 20) compat 10, both DIAG_KERNEL and NORMALIZE_SYMMETRIC,
# 5 iterations. "gentle" weakens the bilateral term for confident networks overfitted
# to one photo, where a strong pull erodes thin parts along weak colour edges.
PRESETS = {
    "default": {},
    "gentle": {"bilateral_sxy": 40, "bilateral_srgb": 13, "bilateral_compat": 3},
    "tutorial": {"iterations": 5, "gaussian_sxy": 10, "gaussian_compat": 3,
                 "bilateral_sxy": 50, "bilateral_srgb": 20, "bilateral_compat": 10,
                 "kernel": "diag", "normalization": "symmetric"},
}


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
           bilateral_sxy=80, bilateral_srgb=13, bilateral_compat=10, kernel="diag",
           normalization="symmetric"):
    """Mean-field refined (H, W, C) float32 probabilities for an (H, W, 3) uint8 RGB image.

    `*_sxy` are kernel widths in pixels, `bilateral_srgb` in colour levels,
    `*_compat` the Potts weights of each term; `kernel` (KERNELS) and
    `normalization` (NORMALIZATIONS) shape both terms. Zero iterations
    return the (clipped, renormalised) input.
    """
    image, probs = check_inputs(image_uint8, probs)
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations!r}")
    if kernel not in KERNELS or normalization not in NORMALIZATIONS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)} and normalization one of "
                         f"{sorted(NORMALIZATIONS)}, got {kernel!r} and {normalization!r}")
    densecrf = backend()
    shape = dict(kernel=getattr(densecrf, KERNELS[kernel]),
                 normalization=getattr(densecrf, NORMALIZATIONS[normalization]))
    height, width, classes = probs.shape
    clipped = np.clip(probs.astype(np.float32), MIN_PROBABILITY, 1.0)
    unary = -np.log(clipped / clipped.sum(-1, keepdims=True))
    crf = densecrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary.reshape(-1, classes).T))
    crf.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat, **shape)
    crf.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb, rgbim=image,
                             compat=bilateral_compat, **shape)
    refined = np.array(crf.inference(int(iterations)), dtype=np.float32)
    return refined.T.reshape(height, width, classes)


# ---- command-line flags of the settings ----

@dataclass(frozen=True)
class Flag:
    """One `refine` keyword, NAME, as the command-line flag `--crf-NAME` (dashes for
    underscores)."""
    name: str
    parse: object
    help: str
    choices: tuple = None
    metavar: str = None

    @property
    def option(self):
        return "--crf-" + self.name.replace("_", "-")

    @property
    def dest(self):
        return "crf_" + self.name


def checked_number(kind, minimum, strict):
    """An argparse type: a `kind` number above `minimum` (strict) or at least it."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole ' if kind is int else ''}number "
                f"{'above' if strict else 'of at least'} {minimum}")
        return value
    return parse


FLAGS = (
    Flag("iterations", checked_number(int, 0, False), "mean-field iterations", metavar="N"),
    Flag("gaussian_sxy", checked_number(float, 0, True),
         "width in pixels of the position-only term (smoothness)", metavar="PIXELS"),
    Flag("gaussian_compat", checked_number(float, 0, False),
         "Potts weight of the position-only term", metavar="WEIGHT"),
    Flag("bilateral_sxy", checked_number(float, 0, True),
         "width in pixels of the position-and-colour term", metavar="PIXELS"),
    Flag("bilateral_srgb", checked_number(float, 0, True),
         "width in colour levels of the position-and-colour term", metavar="LEVELS"),
    Flag("bilateral_compat", checked_number(float, 0, False),
         "Potts weight of the position-and-colour term", metavar="WEIGHT"),
    Flag("kernel", str, "kernel shape of both terms", choices=tuple(KERNELS)),
    Flag("normalization", str, "normalisation of both terms", choices=tuple(NORMALIZATIONS)),
)


def add_arguments(parser):
    """`--crf-preset` and a `--crf-NAME` flag per `refine` setting; any of them asks for the
    CRF (read them back with `chosen_options`)."""
    group = parser.add_argument_group("dense-CRF settings (any of them implies --crf)")
    group.add_argument("--crf-preset", choices=sorted(PRESETS),
                       help="named settings (default: DeepLab's; tutorial: the single-image "
                            "FCN-32s tutorial's; gentle: a weak colour term), which the flags "
                            "below override")
    for flag in FLAGS:
        group.add_argument(flag.option, dest=flag.dest, type=flag.parse, choices=flag.choices,
                           metavar=flag.metavar, help=flag.help)


def chosen_options(args, preset="default"):
    """The `refine` keywords the flags of `add_arguments` chose over `preset` (when no
    --crf-preset is given); None when neither `--crf` nor any of those flags was given."""
    given = {flag.name: getattr(args, flag.dest) for flag in FLAGS
             if getattr(args, flag.dest) is not None}
    if not (getattr(args, "crf", False) or args.crf_preset or given):
        return None
    return {**PRESETS[args.crf_preset or preset], **given}
