"""restore_backbone: values land by name, nothing is added to the graph, mismatches are loud."""
import logging

import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import build_fcn, layers
from fcn_graph.upsampling import bilinear_kernel
from fcn_graph.vgg import build_vgg
from fcn_graph.weights import WeightsError, restore_backbone
from fcn_graph.weights.synthetic import random_weights

WIDTH = 1 / 16
CLASSES = 3


def build(weights, variant="fcn8s", backbone="vgg16", width=WIDTH, scope=None, size=64):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, size, size, 3])
        net = build_fcn(images, CLASSES, variant, backbone=backbone, width=width,
                        weights=weights, scope=scope)
        init = tf.compat.v1.global_variables_initializer()
    graph.finalize()  # restoring must not need a single new op
    sess = tf.compat.v1.Session(graph=graph)
    sess.run(init)
    return net, sess


def value(sess, name):
    variable, = [v for v in sess.graph.get_collection("variables") if v.op.name == name]
    return sess.run(variable)


def test_restore_assigns_backbone_on_finalized_graph():
    weights = random_weights("vgg16", width=WIDTH)
    _, sess = build(weights)
    ops_before = len(sess.graph.get_operations())

    report = restore_backbone(sess, weights)

    assert list(report) == [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3))
                            for i in range(1, n + 1)] + ["fc6", "fc7"]
    assert report.missing == [] and report.unused == ["fc8"]
    for name in report:
        kernel, bias = weights.layers[name]
        assert np.array_equal(value(sess, f"{name}/weights"), kernel)
        assert np.array_equal(value(sess, f"{name}/biases"), bias)
    # New layers keep their initialisers.
    assert not value(sess, "score_pool3/weights").any()
    assert np.array_equal(value(sess, "upscore8/weights"), bilinear_kernel(8, CLASSES))
    assert len(sess.graph.get_operations()) == ops_before


def test_restore_under_scope():
    weights = random_weights("vgg19", width=WIDTH, seed=2)
    _, sess = build(weights, variant="fcn32s", backbone="vgg19", scope="net")
    report = restore_backbone(sess, weights, scope="net")
    assert "conv5_4" in report
    assert np.array_equal(value(sess, "net/conv5_4/weights"), weights.layers["conv5_4"][0])


def test_missing_layers_are_reported_and_strict_refuses(caplog):
    notop = random_weights("vgg16", width=WIDTH, include_top=False)
    _, sess = build(notop)
    fc6_before = value(sess, "fc6/weights")
    with caplog.at_level(logging.WARNING):
        report = restore_backbone(sess, notop)
    assert report.missing == ["fc6", "fc7"]
    assert "fc6, fc7" in caplog.text
    assert np.array_equal(value(sess, "fc6/weights"), fc6_before)
    with pytest.raises(WeightsError, match=r"no weights for backbone layers fc6, fc7"):
        restore_backbone(sess, notop, strict=True)


def test_graph_built_for_another_convention_is_refused():
    rgb = random_weights("vgg16", width=WIDTH, channel_order="RGB",
                         mean=(123.68, 116.78, 103.94))
    _, sess = build(weights=None)  # the reference's BGR mean
    with pytest.raises(WeightsError, match=r"weights expect RGB input .* graph was built for "
                                           r"BGR"):
        restore_backbone(sess, rgb)
    shifted = random_weights("vgg16", width=WIDTH, mean=(100.0, 116.0, 122.0))
    with pytest.raises(WeightsError, match=r"minus mean \(100\.0, 116\.0, 122\.0\)"):
        restore_backbone(sess, shifted)


@pytest.mark.parametrize("file_arch, graph_arch", [("vgg19", "vgg16"), ("vgg16", "vgg19")])
def test_other_depth_is_refused(file_arch, graph_arch):
    weights = random_weights(file_arch, width=WIDTH)
    _, sess = build(weights, variant="fcn32s", backbone=graph_arch)
    with pytest.raises(WeightsError, match=rf"holds {file_arch} weights but the graph's "
                                           rf"backbone is {graph_arch}"):
        restore_backbone(sess, weights)


def test_shape_mismatch_names_layer_and_variable():
    weights = random_weights("vgg16", width=WIDTH)
    _, sess = build(weights, variant="fcn32s", width=2 * WIDTH)
    with pytest.raises(WeightsError, match=r"layer conv1_1 weights have shape \(3, 3, 3, 4\) "
                                           r"but the graph's conv1_1/weights is \(3, 3, 3, 8\)"):
        restore_backbone(sess, weights)


def fcn_weights(classes=CLASSES, seed=0):
    """What a released FCN-8s file holds: backbone without fc8, score and up layers."""
    weights = random_weights("vgg16", width=WIDTH, fc8_classes=None, seed=seed)
    rng = np.random.default_rng(seed)
    for name, channels in (("score_fr", 256), ("score_pool4", 32), ("score_pool3", 16)):
        weights.layers[name] = (rng.standard_normal((1, 1, channels, classes), np.float32),
                                rng.standard_normal(classes, np.float32))
    for name, factor in (("upscore2", 2), ("upscore_pool4", 2), ("upscore8", 8)):
        weights.layers[name] = (bilinear_kernel(factor, classes) * 1.5, None)
    return weights


def test_include_head_restores_released_fcn_layers():
    weights = fcn_weights()
    _, sess = build(weights)
    backbone_only = restore_backbone(sess, weights)
    assert sorted(backbone_only.unused) == sorted(weights.head_layers())
    assert not value(sess, "score_fr/weights").any()

    report = restore_backbone(sess, weights, include_head=True)

    assert report.unused == []
    for name in weights.head_layers():
        assert np.array_equal(value(sess, f"{name}/weights"), weights.layers[name][0])


def test_include_head_refuses_other_class_count():
    _, sess = build(fcn_weights(classes=CLASSES + 1))
    with pytest.raises(WeightsError, match=r"layer score_fr weights have shape"):
        restore_backbone(sess, fcn_weights(classes=CLASSES + 1), include_head=True)


@pytest.mark.parametrize("fc8_classes, restored", [(10, True), (7, False)])
def test_fc8_only_into_identical_fc8(fc8_classes, restored):
    weights = random_weights("vgg16", width=WIDTH, fc8_classes=fc8_classes)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 32, 32, 3])
        fc7, _ = build_vgg(images, "vgg16", geometry="same", weights=weights, width=WIDTH)
        layers.conv(fc7, "fc8", 10, 1, relu=False)
        init = tf.compat.v1.global_variables_initializer()
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(init)
        report = restore_backbone(sess, weights)
        assert ("fc8" in report) == restored
        assert ("fc8" in report.unused) == (not restored)
        if restored:
            assert np.array_equal(value(sess, "fc8/weights"), weights.layers["fc8"][0])


def test_full_width_fcn8s_graphdef_stays_small():
    weights = random_weights("vgg16", width=1.0, fc8_classes=None)
    net, sess = build(weights, width=1.0, size=32)
    report = restore_backbone(sess, weights, strict=True)
    assert len(report) == 15
    assert sess.graph.as_graph_def().ByteSize() < 1 << 20
    assert np.array_equal(value(sess, "fc6/weights"), weights.layers["fc6"][0])


def test_backbone_layer_without_graph_variable_is_named():
    """A hand-built graph without fc6/fc7 variables: the layer is named, not an AttributeError."""
    from fcn_graph.convention import apply_input_convention
    weights = random_weights("vgg16", width=WIDTH)
    graph = tf.Graph()
    with graph.as_default():
        apply_input_convention(tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3]), weights)
        for name in weights.backbone_layers():
            if not name.startswith("fc"):
                kernel, bias = weights.layers[name]
                tf.compat.v1.get_variable(f"{name}/weights", kernel.shape)
                tf.compat.v1.get_variable(f"{name}/biases", bias.shape)
        init = tf.compat.v1.global_variables_initializer()
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(init)
        with pytest.raises(WeightsError, match=r"layer fc6 is part of the vgg16 backbone but "
                                               r"the graph has no fc6/weights variable"):
            restore_backbone(sess, weights)
