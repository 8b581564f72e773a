"""Tiled inference against whole-image inference, and padded batches against one image at a time."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import uniform_filter
from scipy.special import softmax

from fcn_graph.errors import SettingsError
from fcn_graph.windows import crop_batch, pad_batch, tiled_probabilities

v1 = tf.compat.v1


def box_logits(radius, mix):
    """A network-like numpy function: a (2r+1)^2 box filter, then a 1x1 mixing to classes.

    Its receptive field has radius `radius`; outside the image it sees zeros.
    """
    def predict(batch):
        width = 2 * radius + 1
        smooth = uniform_filter(batch.astype(np.float64), size=(1, width, width, 1),
                                mode="constant")
        return smooth @ mix
    return predict


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("shape, tile, overlap, batch_size", [
    ((37, 53), 16, 8, 1),          # many tiles, last ones aligned to the border
    ((37, 53), (20, 12), (8, 9), 4),  # separate height/width, partial last batch
    ((16, 41), 16, 8, 3),          # one row of tiles exactly the image's height
])
def test_tiles_equal_the_whole_image_when_the_margin_holds_the_receptive_field(
        rng, shape, tile, overlap, batch_size):
    image = rng.uniform(0, 255, shape + (3,))
    mix = rng.normal(0, 0.01, (3, 4))  # unsaturated probabilities
    predict = box_logits(2, mix)
    calls = []

    def counted(batch):
        calls.append(len(batch))
        return predict(batch)
    whole = softmax(predict(image[None])[0], axis=-1)
    tiled = tiled_probabilities(counted, image, tile, overlap, batch_size=batch_size,
                                from_logits=True)
    assert tiled.shape == shape + (4,) and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    assert len(calls) > 1 and max(calls) <= batch_size
    # A margin smaller than the receptive field lets the cut-off tile edges in.
    cut = tiled_probabilities(predict, image, tile, overlap, margin=0, from_logits=True)
    assert np.abs(cut - whole).max() > 1e-3


def test_blending_weights_sum_to_one_everywhere(rng):
    # Every pixel gets positive total weight, so constant scores stay constant.
    for length in (7, 16, 17, 31, 32, 33, 50):
        for tile, overlap in ((16, 0), (16, 4), (16, 15), (8, 2)):
            image = np.zeros((length, length + 3, 1))
            ones = tiled_probabilities(lambda b: np.ones(b.shape[:3] + (2,)), image, tile, overlap)
            np.testing.assert_array_equal(ones, 1.0)


def test_probabilities_from_predict_fn_are_blended_as_given(rng):
    image = rng.uniform(0, 1, (30, 30, 2))
    predict = lambda batch: batch / batch.sum(-1, keepdims=True)  # noqa: E731  pointwise
    np.testing.assert_allclose(tiled_probabilities(predict, image, 12, 6),
                               image / image.sum(-1, keepdims=True), rtol=1e-6)


def test_small_image_runs_whole_or_padded_with_the_fill(rng):
    image = rng.uniform(0, 255, (10, 40, 3))
    mix = rng.normal(0, 0.05, (3, 5))
    seen = []

    def predict(batch):
        seen.append(batch.shape[1:3])
        return box_logits(3, mix)(batch)
    whole = softmax(predict(image[None])[0], axis=-1)
    seen.clear()
    # Overlap 12: the default margin of 3 holds the receptive field.
    np.testing.assert_allclose(tiled_probabilities(predict, image, 16, 12, from_logits=True),
                               whole, atol=1e-6)
    assert set(seen) == {(10, 16)}  # the tile shrank to the image's height
    # With a fill, the network always sees full tiles, the fill below the image.
    fill = (100.0, 50.0, 20.0)
    seen.clear()
    filled = tiled_probabilities(predict, image, 16, 12, fill=fill, from_logits=True)
    assert set(seen) == {(16, 16)}
    assert filled.shape == (10, 40, 5)
    padded = np.concatenate([image, np.broadcast_to(fill, (6, 40, 3))], axis=0)
    expected = softmax(box_logits(3, mix)(padded[None])[0], axis=-1)[:10]
    np.testing.assert_allclose(filled, expected, atol=1e-6)
    assert np.abs(filled - whole).max() > 1e-3


def conv_net(stride):
    """A small TF graph: conv, [stride-2 average pooling], conv, [nearest upsampling], 1x1."""
    rng = np.random.default_rng(1)
    images = v1.placeholder(tf.float32, [None, None, None, 3])
    x = tf.nn.relu(tf.nn.conv2d(images, rng.normal(0, 0.1, (3, 3, 3, 8)).astype(np.float32), 1,
                                "SAME"))
    if stride == 2:
        x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    x = tf.nn.relu(tf.nn.conv2d(x, rng.normal(0, 0.3, (3, 3, 8, 8)).astype(np.float32), 1, "SAME"))
    if stride == 2:
        x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    logits = tf.nn.conv2d(x, rng.normal(0, 0.3, (1, 1, 8, 4)).astype(np.float32), 1, "SAME")
    return images, logits


@pytest.mark.parametrize("stride", [1, 2])
def test_tiles_of_a_tensorflow_conv_net_equal_the_whole_image(rng, stride):
    image = rng.uniform(0, 255, (46, 62, 3)).astype(np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        images, logits = conv_net(stride)
        probabilities = tf.nn.softmax(logits)
        predict = lambda batch: sess.run(probabilities, {images: batch})  # noqa: E731
        whole = predict(image[None])[0]
        # Radius of the receptive field: 5 pixels with pooling, 2 without.
        tiled = tiled_probabilities(predict, image, 24, 14, batch_size=4, stride=stride, margin=6)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_strided_tiles_start_on_the_network_grid(rng):
    starts = []

    def predict(batch):
        starts.append(batch[0, 0, 0, 0])
        return np.ones(batch.shape[:3] + (1,))
    # Column index as the image value: the first pixel of a tile tells where it starts.
    image = np.broadcast_to(np.arange(70, dtype=np.float32)[None, :, None], (8, 70, 1))
    tiled_probabilities(predict, image, (8, 32), (0, 12), stride=8)
    assert starts == [0, 16, 32, 38]  # step 20 rounded down to 16; the last tile at the border


@pytest.mark.parametrize("kwargs, flag", [
    (dict(tile=0), "--tile"),
    (dict(tile=(16, -1)), "--tile"),
    (dict(tile=2.5), "--tile"),
    (dict(tile=16, stride=32), "--tile"),
    (dict(tile=16, overlap=16), "--overlap"),
    (dict(tile=16, overlap=-1), "--overlap"),
    (dict(tile=64, overlap=40, stride=32), "--overlap"),
    (dict(tile=16, overlap=4, margin=3), "--margin"),
    (dict(tile=16, batch_size=0), "--batch-size"),
])
def test_bad_settings_name_their_flag(kwargs, flag):
    with pytest.raises(SettingsError, match=flag):
        tiled_probabilities(lambda b: b, np.zeros((40, 40, 3)), **kwargs)


def test_a_predict_fn_that_changes_the_grid_is_refused():
    with pytest.raises(ValueError, match="predict_fn must return"):
        tiled_probabilities(lambda b: b[:, ::2], np.zeros((20, 20, 3)), 8)


def test_padded_batch_equals_one_image_at_a_time(rng):
    images = [rng.uniform(0, 255, size + (3,)) for size in ((9, 14), (17, 5), (12, 12))]
    fill = np.array([123.7, 116.8, 103.9])
    mix = rng.normal(0, 0.05, (3, 4))
    batch, sizes = pad_batch(images, fill)
    assert batch.shape == (3, 17, 14, 3) and batch.dtype == np.float32
    assert sizes == [(9, 14), (17, 5), (12, 12)]
    np.testing.assert_array_equal(batch[0, 9:],
                                  np.broadcast_to(fill.astype(np.float32), (8, 14, 3)))
    # With the fill subtracted first, padding becomes the zeros the box filter sees
    # outside an image anyway: batched and alone agree exactly.
    centred = lambda b: box_logits(2, mix)(b - fill)  # noqa: E731
    for image, crop in zip(images, crop_batch(centred(batch), sizes)):
        np.testing.assert_allclose(crop, centred(image[None].astype(np.float32))[0], atol=1e-4)
    # Without it, the filter sees the fill colour near the padded edges.
    raw = box_logits(2, mix)
    crop = crop_batch(raw(batch), sizes)[1]
    assert np.abs(crop[:, -1] - raw(images[1][None])[0][:, -1]).max() > 1


def test_pad_batch_refuses_mixed_channels():
    with pytest.raises(ValueError, match="same C"):
        pad_batch([np.zeros((2, 2, 3)), np.zeros((2, 2, 1))], 0)
