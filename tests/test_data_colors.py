import numpy as np
from PIL import Image

from fcn_graph.data.colors import colorize, overlay, save_label_png, voc_palette


def test_voc_palette_matches_the_published_colours():
    palette = voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[1].tolist() == [128, 0, 0] and palette[8].tolist() == [64, 0, 0]
    assert palette[15].tolist() == [192, 128, 128] and palette[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in palette}) == 256


def test_colorize_paints_ids_and_leaves_ignore_black():
    colors = [(1, 2, 3), (4, 5, 6)]
    out = colorize(np.array([[0, 1, 255]]), colors)
    assert out.tolist() == [[[1, 2, 3], [4, 5, 6], [0, 0, 0]]]


def test_overlay_blends_classes_and_keeps_ignored_pixels():
    image = np.full((1, 2, 3), 100, np.uint8)
    out = overlay(image, np.array([[0, 255]]), [(200, 0, 100)], alpha=0.5)
    assert out.tolist() == [[[150, 50, 100], [100, 100, 100]]]


def test_save_label_png_stores_indices_with_a_palette(tmp_path):
    label = np.array([[0, 8], [255, 20]], np.uint8)
    save_label_png(tmp_path / "l.png", label, voc_palette(21))
    image = Image.open(tmp_path / "l.png")
    assert image.mode == "P"
    np.testing.assert_array_equal(np.array(image), label)
    assert image.convert("RGB").getpixel((1, 0)) == (64, 0, 0)
