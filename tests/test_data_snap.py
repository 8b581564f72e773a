"""Snapping a rough mask to the colour edges of its image."""
import numpy as np
import pytest

from fcn_graph.data.snap import boundary_band, snap_to_edges


def two_region_image():
    image = np.zeros((40, 50, 3), np.uint8)
    image[:, :20] = (200, 40, 40)
    image[:, 20:] = (30, 30, 180)
    truth = np.zeros((40, 50), np.uint8)
    truth[:, :20] = 7
    return image, truth


def test_boundary_moved_by_a_few_pixels_lands_on_the_colour_edge():
    image, truth = two_region_image()
    rough = np.zeros_like(truth)
    rough[:, :24] = 7  # the annotator overshot by 4 pixels
    snapped = snap_to_edges(image, rough, margin=6)
    np.testing.assert_array_equal(snapped, truth)
    assert snapped.dtype == rough.dtype


def test_pixels_far_from_boundaries_keep_their_class():
    image, _ = two_region_image()
    rough = np.zeros((40, 50), np.uint8)
    rough[10:30, 30:45] = 3  # a box that disagrees with the image's colours entirely
    snapped = snap_to_edges(image, rough, margin=2)
    far = ~boundary_band(rough, 2)
    np.testing.assert_array_equal(snapped[far], rough[far])


def test_single_class_mask_is_returned_unchanged():
    image, _ = two_region_image()
    mask = np.full((40, 50), 5, np.uint8)
    np.testing.assert_array_equal(snap_to_edges(image, mask), mask)


def test_size_mismatch_is_refused():
    image, truth = two_region_image()
    with pytest.raises(ValueError, match="differ in size"):
        snap_to_edges(image[:10], truth)


@pytest.mark.parametrize("margin", [1, 2, 5])
def test_boundary_band_reaches_margin_pixels_each_side(margin):
    mask = np.zeros((3, 20), np.uint8)
    mask[:, 10:] = 1
    band = boundary_band(mask, margin)
    expected = np.zeros(20, bool)
    expected[10 - margin:10 + margin] = True
    np.testing.assert_array_equal(band, np.broadcast_to(expected, mask.shape))
