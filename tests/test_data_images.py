"""The data layer's one image reader: 16-bit scaling and animated files, in Python and in the pipeline."""
import io
import logging

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import data_fixtures as fx
from fcn_graph.data import DataError, get_dataset, make_dataset
from fcn_graph.data.labels import decode_image_rgb, read_image_rgb

v1 = tf.compat.v1

# A 0..65535 ramp with the values where scaling by the high byte steps.
RAMP = np.concatenate([np.linspace(0, 65535, 40).astype(np.uint16),
                       np.array([255, 256, 257, 32895, 32896, 65279, 65280], np.uint16)])


def _sixteen_bit_png(height, width):
    values = np.resize(RAMP, height * width).reshape(height, width)
    return values, Image.fromarray(values)


def test_sixteen_bit_grayscale_keeps_its_high_byte_instead_of_saturating(tmp_path):
    values, image = _sixteen_bit_png(1, len(RAMP))
    image.save(tmp_path / "ramp.png")
    assert Image.open(tmp_path / "ramp.png").mode.startswith("I")
    rgb = read_image_rgb(str(tmp_path / "ramp.png"))
    assert rgb.dtype == np.uint8 and rgb.shape == (1, len(RAMP), 3)
    np.testing.assert_array_equal(rgb[..., 0], values >> 8)
    np.testing.assert_array_equal(rgb[..., 1], rgb[..., 2])
    assert (rgb == 255).mean() < 0.1
    # TensorFlow's own PNG decoder agrees, so records and files decode alike.
    tf_rgb = tf.io.decode_png((tmp_path / "ramp.png").read_bytes(), channels=3).numpy()
    np.testing.assert_array_equal(tf_rgb, rgb)


def test_sixteen_bit_colour_and_gray_alpha_pngs_keep_their_high_byte_too(tmp_path):
    rng = np.random.default_rng(1)
    for channels in (3, 2):
        values = rng.integers(0, 65536, (3, 4, channels)).astype(np.uint16)
        path = tmp_path / f"wide{channels}.png"
        path.write_bytes(tf.io.encode_png(values).numpy())
        rgb = read_image_rgb(str(path))
        np.testing.assert_array_equal(rgb, (values >> 8)[..., [0, 1, 2] if channels == 3 else [0, 0, 0]])


def test_pipeline_reads_sixteen_bit_images_scaled(tmp_path):
    source = get_dataset("folder", fx.write_folder(str(tmp_path)))
    image_path = source.examples("train")[0][0]
    values, image = _sixteen_bit_png(fx.HEIGHT, fx.WIDTH)
    image.save(image_path)
    with tf.Graph().as_default():
        batch = v1.data.make_one_shot_iterator(make_dataset(source, "train", shuffle=False)).get_next()
        with v1.Session() as sess:
            first = sess.run(batch)
    np.testing.assert_array_equal(first["image"][0, :, :, 1], values >> 8)


def test_animated_gif_reads_its_first_frame_and_warns_once(tmp_path, caplog):
    frames = [Image.fromarray(np.full((4, 5, 3), value, np.uint8)) for value in (30, 120, 240)]
    path = str(tmp_path / "anim.gif")
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    with caplog.at_level(logging.WARNING, logger="fcn_graph.data"):
        first = read_image_rgb(path)
        again = read_image_rgb(path)
    assert (first == 30).all() and (again == 30).all()
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("fcn_graph.data")]
    assert warnings == [f"{path} holds 3 frames; only the first is used"]


def test_encoded_bytes_decode_like_files_and_name_their_origin(tmp_path):
    values, image = _sixteen_bit_png(2, 3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    np.testing.assert_array_equal(decode_image_rgb(buffer.getvalue(), "r.tfrecord#4")[..., 0], values >> 8)
    with pytest.raises(DataError, match="^image unreadable: r.tfrecord#5 "):
        decode_image_rgb(b"junk", "r.tfrecord#5")
