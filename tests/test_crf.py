"""Dense CRF refinement of softmax probabilities, its presets and its command-line flags."""
import argparse
import os
import sys

import numpy as np
import pytest
from PIL import Image

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


@needs_backend
@pytest.mark.parametrize("iterations", [1, 5])
def test_tutorial_preset_is_the_tutorials_dense_crf(iterations):
    """The tutorial's generic DenseCRF on create_pairwise_* features, and refine's DenseCRF2D.

    The features are listed x before y, as DenseCRF2D lists them: the
    permutohedral lattice approximates the filter differently for another
    order (by about 1e-2 after one iteration).
    """
    import pydensecrf.densecrf as densecrf
    from pydensecrf.utils import create_pairwise_bilateral, create_pairwise_gaussian
    image, _, probs = box_scene()
    height, width, classes = probs.shape
    model = densecrf.DenseCRF(height * width, classes)
    model.setUnaryEnergy(np.ascontiguousarray(-np.log(probs.transpose(2, 0, 1).reshape(
        classes, -1)).astype(np.float32)))
    shape = dict(kernel=densecrf.DIAG_KERNEL, normalization=densecrf.NORMALIZE_SYMMETRIC)
    gaussian = create_pairwise_gaussian(sdims=(10, 10), shape=(height, width))
    bilateral = create_pairwise_bilateral(sdims=(50, 50), schan=(20, 20, 20), img=image, chdim=2)
    model.addPairwiseEnergy(np.ascontiguousarray(gaussian[[1, 0]]), compat=3, **shape)
    model.addPairwiseEnergy(np.ascontiguousarray(bilateral[[1, 0, 2, 3, 4]]), compat=10, **shape)
    expected = np.array(model.inference(iterations)).T.reshape(height, width, classes)
    preset = dict(crf.PRESETS["tutorial"], iterations=iterations)
    np.testing.assert_allclose(crf.refine(image, probs, **preset), expected, atol=1e-6)
    assert crf.PRESETS["tutorial"]["iterations"] == 5
    if iterations == 1:  # before the scene saturates, every setting shows
        for name, other in (("gaussian_sxy", 20), ("gaussian_compat", 6), ("bilateral_sxy", 100),
                            ("bilateral_srgb", 40), ("bilateral_compat", 20),
                            ("normalization", "after")):
            changed = crf.refine(image, probs, **dict(preset, **{name: other}))
            assert np.abs(changed - expected).max() > 5e-3, name


@needs_backend
def test_kernel_and_normalization_shape_both_terms():
    image, _, probs = box_scene()
    default = crf.refine(image, probs, iterations=1)
    np.testing.assert_array_equal(
        crf.refine(image, probs, iterations=1, kernel="diag", normalization="symmetric"), default)
    for changed in ({"normalization": "none"}, {"normalization": "after"}):
        assert np.abs(crf.refine(image, probs, iterations=1, **changed) - default).max() > 1e-3
    with pytest.raises(ValueError, match="kernel must be one of"):
        crf.refine(image, probs, kernel="diagonal")


def crf_args(argv, with_crf_flag=True):
    parser = argparse.ArgumentParser()
    if with_crf_flag:
        parser.add_argument("--crf", action="store_true")
    crf.add_arguments(parser)
    return parser.parse_args(argv)


def test_flags_choose_the_settings_over_a_preset():
    assert crf.chosen_options(crf_args([])) is None
    assert crf.chosen_options(crf_args(["--crf"])) == {}
    chosen = crf.chosen_options(crf_args(["--crf-preset", "tutorial", "--crf-iterations", "3"]))
    assert chosen == dict(crf.PRESETS["tutorial"], iterations=3)
    # Any setting asks for the CRF, over the default preset.
    assert crf.chosen_options(crf_args(["--crf-normalization", "before", "--crf-gaussian-sxy",
                                        "2.5"])) == {"normalization": "before",
                                                     "gaussian_sxy": 2.5}
    assert set(crf.PRESETS["tutorial"]) == {flag.name for flag in crf.FLAGS}


@pytest.mark.parametrize("argv", [["--crf-iterations", "-1"], ["--crf-bilateral-sxy", "0"],
                                  ["--crf-gaussian-compat", "x"], ["--crf-kernel", "diagonal"]])
def test_bad_flag_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        crf_args(argv)
    assert stop.value.code == 2
    assert argv[0] in capsys.readouterr().err


@needs_backend
@pytest.mark.parametrize("command", ["eval", "infer"])
def test_eval_and_infer_take_every_crf_setting(command, tiny_run, run_command, tmp_path, capsys,
                                               monkeypatch):
    run_dir, data_dir = tiny_run
    flags = ["--crf-preset", "tutorial", "--crf-iterations", "2", "--crf-kernel", "full"]
    if command == "eval":
        argv = ["eval", "--checkpoint", run_dir, "--max-images", "1", *flags]
    else:
        image = os.path.join(tmp_path, "photo.png")
        Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(image)
        argv = ["infer", "--checkpoint", run_dir, image, "--out", tmp_path / "out", *flags]
    chosen = []
    real_refine = crf.refine

    def recording_refine(image, probs, **options):
        chosen.append(options)
        return real_refine(image, probs, **options)

    monkeypatch.setattr(crf, "refine", recording_refine)
    assert run_command(argv) == 0
    assert chosen and all(o == dict(crf.PRESETS["tutorial"], iterations=2, kernel="full")
                          for o in chosen)
    if command == "eval":
        assert "with dense-CRF refinement" in capsys.readouterr().out
