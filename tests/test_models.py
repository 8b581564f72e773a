"""Building every network by name."""
import pytest
import tensorflow as tf

from fcn_graph.models import build_model, model_names

v1 = tf.compat.v1


@pytest.mark.parametrize("name", model_names())
def test_every_model_builds_logits_of_the_input_size(name):
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [2, 37, 50, 3])
        net = build_model(name, images, 4, width=1 / 16)
        assert net.logits.shape.as_list() == [2, 37, 50, 4]


def test_unknown_model_and_option_are_refused():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 8, 8, 3])
        with pytest.raises(ValueError, match="fcn4s"):
            build_model("fcn4s", images, 2)
        with pytest.raises(ValueError, match="depth"):
            build_model("fcn8s", images, 2, depth=3)


def test_pretrained_weights_only_go_into_vgg_backbones():
    class Weights:
        channel_order, mean = "RGB", (1.0, 2.0, 3.0)

    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 8, 8, 3])
        with pytest.raises(ValueError, match="no VGG backbone"):
            build_model("unet", images, 2, weights=Weights())
