"""`predict` and `fcn-graph infer`: one graph for images of any size, palette PNG outputs."""
import numpy as np
import pytest
from PIL import Image

from fcn_graph import crf
from fcn_graph.errors import DataError
from fcn_graph.inference import Segmenter, as_rgb_array, predict
from fixtures import SYNTHETIC_CLASSES, make_run, run_command


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer")
    make_run(str(root / "run"), root / "data", seed=3)
    return str(root / "run")


def random_image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_predict_any_size_and_probabilities(run_dir):
    images = [random_image((20, 28, 3), 0), random_image((33, 17, 3), 1), random_image((9, 9), 2)]
    labels, probabilities = predict(run_dir, images, return_probabilities=True)
    for image, label, probs in zip(images, labels, probabilities):
        assert label.shape == image.shape[:2]
        assert label.dtype == np.int32
        assert probs.shape == image.shape[:2] + (SYNTHETIC_CLASSES,)
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(label, probs.argmax(axis=-1))
    # A gray image is its RGB replication.
    gray = images[2]
    np.testing.assert_array_equal(predict(run_dir, gray)[0],
                                  predict(run_dir, np.repeat(gray[..., None], 3, -1))[0])


def test_prediction_does_not_depend_on_the_batch_it_came_with(run_dir, tmp_path):
    first, second = random_image((24, 32, 3), 5), random_image((40, 24, 3), 6)
    path = tmp_path / "first.png"
    Image.fromarray(first).save(path)
    with Segmenter(run_dir) as segmenter:
        alone, _ = segmenter.segment(first)
        segmenter.segment(second)
        again, _ = segmenter.segment(str(path))
        assert len(segmenter.graph.get_operations()) > 0 and segmenter.graph.finalized
    np.testing.assert_array_equal(alone, again)
    assert np.unique(alone).size > 1  # random weights that predict one class would test nothing


def test_cli_writes_palette_labels_and_overlays(run_dir, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    sizes = {"a": (20, 28), "b": (31, 18)}
    for name, size in sizes.items():
        Image.fromarray(random_image(size + (3,), len(name) + size[0])).save(folder / f"{name}.jpg")
    extra = tmp_path / "c.png"
    Image.fromarray(random_image((12, 14, 3), 9)).save(extra)
    sizes["c"] = (12, 14)
    out = tmp_path / "out"
    assert run_command(["infer", "--checkpoint", run_dir, str(folder), str(extra),
                                  "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(" ms") >= 3 and "median" in printed
    colors = [[70, 130, 180], [70, 70, 70], [128, 64, 128], [107, 142, 35], [0, 0, 142],
              [220, 20, 60]]
    for name, (height, width) in sizes.items():
        label_png = Image.open(out / f"{name}.png")
        assert label_png.mode == "P"
        assert label_png.size == (width, height)
        palette = np.array(label_png.getpalette()[:3 * SYNTHETIC_CLASSES]).reshape(-1, 3)
        np.testing.assert_array_equal(palette, colors)
        source = folder / f"{name}.jpg" if name != "c" else extra
        np.testing.assert_array_equal(np.array(label_png), predict(run_dir, str(source))[0])
        overlay = Image.open(out / f"{name}_overlay.png")
        assert overlay.mode == "RGB" and overlay.size == (width, height)


def test_missing_input_is_named(run_dir, tmp_path, capsys):
    assert run_command(["infer", "--checkpoint", run_dir, tmp_path / "nothing.jpg",
                        "--out", tmp_path / "out"]) == 1
    assert "nothing.jpg" in capsys.readouterr().err


def test_crf_refines_the_probabilities(run_dir):
    if not crf.available():
        pytest.skip("pydensecrf is not installed")
    image = random_image((20, 26, 3), 11)
    with Segmenter(run_dir) as plain, Segmenter(run_dir, crf=True) as refined:
        _, probabilities = plain.segment(image)
        labels, refined_probabilities = refined.segment(image)
    np.testing.assert_allclose(refined_probabilities, crf.refine(image, probabilities),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, refined_probabilities.argmax(axis=-1))


def test_single_channel_and_gray_alpha_arrays_are_gray_images():
    gray = random_image((5, 7), 12)
    expected = np.repeat(gray[..., None], 3, axis=-1)
    np.testing.assert_array_equal(as_rgb_array(gray[..., None]), expected)
    with_alpha = np.stack([gray, np.full_like(gray, 255)], axis=-1)
    np.testing.assert_array_equal(as_rgb_array(with_alpha), expected)


def test_an_image_without_pixels_is_refused_with_its_shape():
    with pytest.raises(DataError, match=r"no pixels.*\(0, 5, 3\)"):
        as_rgb_array(np.zeros((0, 5, 3), np.uint8))
