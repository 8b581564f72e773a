"""Keras 3 `.weights.h5` and Keras 2 legacy `.h5`, written by Keras itself, and pool5 parity."""
import importlib

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.vgg import build_vgg
from fcn_graph.weights import load_weights, restore_backbone
from fcn_graph.weights.keras import canonical_name
from fcn_graph.weights.npy import CAFFE_TF_BGR_MEAN

keras = pytest.importorskip("keras")

APPLICATIONS = {"vgg16": "VGG16", "vgg19": "VGG19"}


def he_scaled(model, seed=0):
    """Replace Keras' Glorot init by He-scaled kernels and nonzero biases.

    With Glorot weights the activations shrink ~2x per layer and pool5 is
    nearly zero; He scaling keeps them O(1), and random biases make a
    bias mix-up visible.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            fan_in = np.prod(kernel.shape[:-1])
            layer.set_weights([
                (rng.standard_normal(kernel.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32),
                (0.1 * rng.standard_normal(bias.shape)).astype(np.float32)])
    return model


def keras_layers(model):
    """Canonical name -> (kernel, bias) straight from a Keras model."""
    return {canonical_name(layer.name): tuple(layer.get_weights())
            for layer in model.layers if layer.weights}


def assert_matches_model(weights, model):
    expected = keras_layers(model)
    assert sorted(weights.layers) == sorted(expected)
    for name, (kernel, bias) in expected.items():
        loaded_kernel, loaded_bias = weights.layers[name]
        if kernel.ndim == 2:  # Dense: the loader makes it a convolution
            kernel = kernel.reshape(loaded_kernel.shape)
        assert np.array_equal(loaded_kernel, kernel), name
        assert np.array_equal(loaded_bias, bias), name


def pool5_of_graph(weights, image):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        _, end_points = build_vgg(images, weights.arch, geometry="same", weights=weights)
        init = tf.compat.v1.global_variables_initializer()
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(init)
        report = restore_backbone(sess, weights)
        assert report.missing == ["fc6", "fc7"]  # a notop file
        return sess.run(end_points["pool5"], {images: image[None]})[0]


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_keras3_notop_round_trip_and_pool5_parity(tmp_path, arch):
    model = he_scaled(getattr(keras.applications, APPLICATIONS[arch])(
        weights=None, include_top=False, input_shape=(224, 224, 3)))
    path = tmp_path / f"{arch}.weights.h5"
    model.save_weights(path)

    weights = load_weights(path, arch=arch)

    assert weights.source == "keras3 weights.h5" and weights.arch == arch
    assert (weights.channel_order, weights.mean) == ("BGR", CAFFE_TF_BGR_MEAN)
    assert_matches_model(weights, model)

    image = np.random.default_rng(1).uniform(0, 255, (224, 224, 3)).astype(np.float32)
    preprocess = importlib.import_module(f"keras.applications.{arch}").preprocess_input
    expected = np.asarray(model(preprocess(image[None].copy()), training=False))[0]
    ours = pool5_of_graph(weights, image)
    assert ours.shape == expected.shape == (7, 7, 512)
    assert np.abs(expected).max() > 1.0  # a meaningful scale, not a field of zeros
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()


def test_keras3_with_top(tmp_path):
    model = keras.applications.VGG16(weights=None, include_top=True)
    path = tmp_path / "vgg16_top.weights.h5"
    model.save_weights(path)
    weights = load_weights(path)
    assert weights.layers["fc6"][0].shape == (7, 7, 512, 4096)
    assert weights.layers["fc7"][0].shape == (1, 1, 4096, 4096)
    assert weights.layers["fc8"][0].shape == (1, 1, 4096, 1000)
    assert_matches_model(weights, model)


def tf_keras_vgg(arch, include_top):
    tf_keras = pytest.importorskip("tf_keras")
    return getattr(tf_keras.applications, APPLICATIONS[arch])(weights=None,
                                                              include_top=include_top)


def test_keras2_legacy_h5_round_trip(tmp_path):
    model = tf_keras_vgg("vgg19", include_top=False)
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    model.save_weights(str(path))
    weights = load_weights(path, arch="vgg19")
    assert weights.source == "keras2 h5"
    assert (weights.channel_order, weights.mean) == ("BGR", CAFFE_TF_BGR_MEAN)
    assert_matches_model(weights, model)


@pytest.mark.slow
def test_keras2_legacy_h5_with_top(tmp_path):
    model = tf_keras_vgg("vgg16", include_top=True)
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    model.save_weights(str(path))
    weights = load_weights(path, arch="vgg16")
    assert weights.layers["fc6"][0].shape == (7, 7, 512, 4096)
    assert_matches_model(weights, model)


def test_keras3_whole_model_h5(tmp_path):
    """Keras 3's legacy `model.save('x.h5')` names weights 'block1_conv1/kernel', without ':0'."""
    model = he_scaled(keras.applications.VGG16(weights=None, include_top=False,
                                               input_shape=(32, 32, 3)))
    path = tmp_path / "vgg16_notop.h5"
    model.save(path)
    weights = load_weights(path, arch="vgg16")
    assert weights.source == "keras2 h5"
    assert_matches_model(weights, model)
