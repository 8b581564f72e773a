"""Dense CRF refinement of softmax probabilities."""
import sys

import numpy as np
import pytest

from fcn_graph import crf
from fcn_graph.metrics import confusion_matrix, scores

needs_backend = pytest.mark.skipif(not crf.available(), reason="pydensecrf2 not installed")


def box_scene():
    """A bright box on a dark image, its labels, and blocky probabilities that overshoot it."""
    image = np.full((40, 52, 3), 30, np.uint8)
    image[10:30, 15:41] = (220, 180, 60)
    label = np.zeros((40, 52), np.int64)
    label[10:30, 15:41] = 1
    coarse = np.zeros((40, 52))
    coarse[8:32, 16:40] = 1  # off by one or two pixels on every side, as an 8x upsampling is
    fg = 0.15 + 0.7 * coarse
    return image, label, np.stack([1 - fg, fg], axis=-1).astype(np.float32)


def iou_of(probs, label):
    return scores(confusion_matrix(label, probs.argmax(-1), 2))["mean_iu"]


@needs_backend
def test_zero_iterations_return_the_input_probabilities():
    image, _, probs = box_scene()
    np.testing.assert_allclose(crf.refine(image, probs, iterations=0), probs, atol=1e-6)


@needs_backend
def test_output_is_a_distribution_per_pixel():
    image, _, probs = box_scene()
    refined = crf.refine(image, probs)
    assert refined.shape == probs.shape and refined.dtype == np.float32
    np.testing.assert_allclose(refined.sum(-1), 1.0, atol=1e-5)
    assert refined.min() >= 0


@needs_backend
def test_bilateral_term_snaps_a_coarse_score_to_colour_edges():
    image, label, probs = box_scene()
    before, after = iou_of(probs, label), iou_of(crf.refine(image, probs), label)
    assert before < 0.93
    assert after > 0.99


@needs_backend
def test_without_colour_edges_there_is_nothing_to_snap_to():
    image, label, probs = box_scene()
    flat = np.full_like(image, 128)
    assert iou_of(crf.refine(flat, probs), label) < 0.95


@needs_backend
def test_gaussian_term_removes_isolated_pixels():
    image = np.full((30, 30, 3), 100, np.uint8)
    rng = np.random.RandomState(0)
    fg = np.full((30, 30), 0.2)
    noisy = rng.rand(30, 30) < 0.05
    fg[noisy] = 0.6
    probs = np.stack([1 - fg, fg], axis=-1)
    refined = crf.refine(image, probs, bilateral_compat=0, gaussian_compat=3)
    assert noisy.sum() > 10
    assert refined.argmax(-1).sum() == 0
    assert crf.refine(image, probs, iterations=0).argmax(-1).sum() == noisy.sum()


@pytest.mark.parametrize("image,probs,match", [
    (np.zeros((4, 4, 3), np.float32), np.full((4, 4, 2), 0.5), "uint8"),
    (np.zeros((4, 4), np.uint8), np.full((4, 4, 2), 0.5), r"\(H, W, 3\)"),
    (np.zeros((4, 4, 3), np.uint8), np.full((4, 5, 2), 0.5), "grid"),
    (np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 2), 3.0), "softmax"),
])
def test_bad_inputs_name_the_fix(image, probs, match):
    with pytest.raises(ValueError, match=match):
        crf.refine(image, probs)


def test_missing_backend_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydensecrf", None)
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)
    assert not crf.available()
    image, _, probs = box_scene()
    with pytest.raises(ImportError, match=r"fcn-graph\[crf\]"):
        crf.refine(image, probs)


@needs_backend
def test_read_only_image_as_pil_gives_it():
    # np.asarray(PIL image) is read-only; pydensecrf wants a writable buffer.
    image, _, probs = box_scene()
    frozen = image.copy()
    frozen.setflags(write=False)
    np.testing.assert_allclose(crf.refine(frozen, probs), crf.refine(image, probs), atol=1e-6)
