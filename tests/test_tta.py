"""Test-time augmentation against predictions computed one by one."""
import numpy as np
import pytest
from scipy.special import softmax
from skimage.transform import resize

from fcn_graph.errors import SettingsError
from fcn_graph.tta import augmented_probabilities


def position_logits(batch):
    """Logits that depend on colour and on the column, so a mirror image is scored differently."""
    columns = np.linspace(-1, 1, batch.shape[2])[None, None, :, None]
    mix = np.array([[0.02, -0.01, 0.0], [0.0, 0.015, -0.02], [-0.01, 0.0, 0.03]])
    return batch @ mix + columns * np.array([2.0, 0.0, -1.0])


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0, 255, (13, 18, 3)).astype(np.float32)


def one_prediction(image, scale, mirrored):
    height, width = image.shape[:2]
    size = (max(1, round(scale * height)), max(1, round(scale * width)))
    scaled = image if scale == 1 else resize(image, size, order=1, mode="edge",
                                             anti_aliasing=scale < 1, preserve_range=True)
    if mirrored:
        scaled = np.fliplr(scaled)
    probabilities = softmax(position_logits(scaled[None].astype(np.float32))[0], axis=-1)
    if mirrored:
        probabilities = np.fliplr(probabilities)
    if scale != 1:
        probabilities = resize(probabilities, (height, width), order=1, mode="edge",
                               anti_aliasing=False, preserve_range=True)
    return probabilities


def test_average_of_separately_computed_predictions(image):
    scales = (0.5, 1.0, 1.7)
    result = augmented_probabilities(position_logits, image, scales=scales, flip=True,
                                     from_logits=True)
    expected = np.mean([one_prediction(image, s, m) for s in scales for m in (False, True)], axis=0)
    assert result.shape == (13, 18, 3) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6)
    # The augmentations each matter: none of them alone gives the mean.
    for s in scales:
        assert np.abs(one_prediction(image, s, False) - expected).max() > 1e-3
    np.testing.assert_allclose(result.sum(-1), 1.0, atol=1e-5)


def test_scale_one_without_flip_is_the_plain_prediction(image):
    np.testing.assert_allclose(
        augmented_probabilities(position_logits, image, from_logits=True),
        softmax(position_logits(image[None])[0], axis=-1), atol=1e-6)


def test_flipping_a_mirror_symmetric_network_changes_nothing(image):
    pointwise = lambda batch: batch / batch.sum(-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(augmented_probabilities(pointwise, image, flip=True),
                               pointwise(image), rtol=1e-6)


def test_flipped_copy_runs_in_the_same_batch(image):
    sizes = []

    def predict(batch):
        sizes.append(batch.shape)
        return position_logits(batch)
    augmented_probabilities(predict, image, scales=[0.5, 2], flip=True, from_logits=True)
    assert sizes == [(2, 6, 9, 3), (2, 26, 36, 3)]


@pytest.mark.parametrize("scales", [(), (0.0,), (1.0, -0.5), ("x",), (float("nan"),)])
def test_bad_scales_name_the_flag(image, scales):
    with pytest.raises(SettingsError, match="--scales"):
        augmented_probabilities(position_logits, image, scales=scales)
