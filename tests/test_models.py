"""ModelSpec: every network by name, built from one spec that round-trips through a record."""
import json

import pytest
import tensorflow as tf

from fcn_graph.convention import InputConvention
from fcn_graph.errors import SettingsError
from fcn_graph.models import IMAGENET_CONVENTION, ModelSpec, build, model_names

v1 = tf.compat.v1


@pytest.mark.parametrize("name", model_names())
def test_every_model_builds_logits_of_the_input_size(name):
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [2, 37, 50, 3])
        net = build(ModelSpec(name, 4, geometry="same", width=1 / 16), images)
        assert net.logits.shape.as_list() == [2, 37, 50, 4]


def test_a_spec_round_trips_through_json():
    spec = ModelSpec("fcn16s", 5, backbone="vgg19", geometry="same", width=0.5,
                     dropout_rate=0.25, learn_upsampling=True,
                     convention=InputConvention("RGB", (1.0, 2.0, 3.0)))
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.for_inference().dropout_rate == 0.0


def test_the_graph_records_the_spec_s_input_convention():
    spec = ModelSpec("fcn32s", 3, width=1 / 16, convention=InputConvention("RGB", (1, 2, 3)))
    with tf.Graph().as_default():
        build(spec, v1.placeholder(tf.float32, [1, 32, 32, 3]))
        with v1.Session() as sess:
            order, mean = sess.run(["preprocess/channel_order:0", "preprocess/mean:0"])
    assert order == b"RGB" and list(mean) == [1.0, 2.0, 3.0]


def test_nets_without_a_vgg_backbone_keep_their_own_convention():
    assert ModelSpec("unet", 3).convention == IMAGENET_CONVENTION


@pytest.mark.parametrize("fields, match", [
    ({"name": "fcn4s"}, "unknown model 'fcn4s'"), ({"backbone": "vgg11"}, "vgg11"),
    ({"geometry": "valid"}, "geometry"), ({"width": 0}, "width"),
    ({"dropout_rate": 1.5}, "dropout"), ({"num_classes": 0}, "num_classes")])
def test_bad_specs_are_refused_by_name(fields, match):
    with pytest.raises(SettingsError, match=match):
        ModelSpec(**{"name": "fcn8s", "num_classes": 2, **fields})


def test_an_option_the_builder_does_not_take_fails_when_building():
    with tf.Graph().as_default():
        with pytest.raises(TypeError, match="depth"):
            build(ModelSpec("fcn8s", 2, options={"depth": 3}),
                  v1.placeholder(tf.float32, [1, 8, 8, 3]))
