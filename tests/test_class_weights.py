"""Class weights from label counts, against counts made with numpy, and hand-given weights."""
import numpy as np
import pytest

from fcn_graph.class_weights import class_weights, count_pixels
from fcn_graph.errors import DataError, SettingsError


@pytest.fixture
def label_maps():
    rng = np.random.default_rng(0)
    maps = []
    for size, classes in (((6, 8), [0, 1]), ((5, 5), [0, 2, 3]), ((7, 4), [1, 3]), ((3, 9), [0])):
        labels = rng.choice(classes, size=size)
        labels[0, 0] = 255
        maps.append(labels)
    return maps  # class 4 of 5 never occurs


def numpy_statistics(maps, num_classes):
    pixels = np.zeros(num_classes)
    present_pixels = np.zeros(num_classes)
    for labels in maps:
        labelled = labels[labels != 255]
        for c in range(num_classes):
            n = np.sum(labelled == c)
            pixels[c] += n
            if n:
                present_pixels[c] += labelled.size
    return pixels, present_pixels


def test_counts_match_numpy(label_maps):
    counts = count_pixels(iter(label_maps), 5)
    pixels, present_pixels = numpy_statistics(label_maps, 5)
    np.testing.assert_array_equal(counts.pixels, pixels)
    np.testing.assert_array_equal(counts.present_pixels, present_pixels)
    np.testing.assert_array_equal(counts.images, [3, 2, 1, 2, 0])
    assert counts.num_images == 4 and counts.num_classes == 5
    assert counts.pixels.sum() == sum(m.size - 1 for m in label_maps)


def test_median_frequency_is_eigen_and_fergus(label_maps):
    pixels, present_pixels = numpy_statistics(label_maps, 5)
    frequency = pixels[:4] / present_pixels[:4]
    expected = np.median(frequency) / frequency
    weights = class_weights(count_pixels(label_maps, 5), "median-frequency")
    assert weights.dtype == np.float32 and weights.shape == (5,)
    np.testing.assert_allclose(weights[:4], expected, rtol=1e-6)
    assert weights[4] == 0  # absent from the data
    # A class as frequent as the median weighs 1; rarer classes more.
    assert np.sort(weights[:4])[1] <= 1.0 <= np.sort(weights[:4])[2]


def test_inverse_sqrt_averages_to_one_over_the_pixels(label_maps):
    counts = count_pixels(label_maps, 5)
    weights = class_weights(counts, "inverse-sqrt")
    share = counts.pixels / counts.pixels.sum()
    assert np.sum(share * weights) == pytest.approx(1.0, rel=1e-6)
    # Proportional to 1 / sqrt(share) among the classes present.
    ratio = weights[:4] * np.sqrt(share[:4])
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)
    assert weights[4] == 0


def test_explicit_weights_are_parsed_and_checked():
    np.testing.assert_array_equal(class_weights(None, "1,2.5,0", num_classes=3), [1, 2.5, 0])
    np.testing.assert_array_equal(class_weights(None, [1, 2, 3], num_classes=3), [1, 2, 3])
    for bad in ("1,2", "1,2,3,4", "1,x,2", "1,-1,2", "0,0,0", "1,nan,2", "median"):
        with pytest.raises(SettingsError, match="--class-weights"):
            class_weights(None, bad, num_classes=3)


def test_bad_labels_and_empty_data_are_data_errors():
    with pytest.raises(DataError, match="label map 1 holds class 7"):
        count_pixels([np.zeros((2, 2)), np.full((2, 2), 7)], 3)
    with pytest.raises(DataError, match="no labelled pixel"):
        class_weights(count_pixels([np.full((2, 2), 255)], 3), "median-frequency")
