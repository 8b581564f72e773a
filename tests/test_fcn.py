"""FCN heads: shapes, crops and alignment in both geometries, names, initialisers."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import bilinear_kernel, build_fcn
from fcn_graph.vgg import layer_names

v1 = tf.compat.v1
VARIANTS = ["fcn32s", "fcn16s", "fcn8s", "fcn8s-atonce"]
TINY = 1 / 64  # 1..8 channels in the convs, 64 in fc6/fc7: shapes as VGG, cost tiny


def build(variant, geometry="caffe", backbone="vgg16", width=TINY, classes=3, **kwargs):
    images = v1.placeholder(tf.float32, [None, None, None, 3], name="images")
    return images, build_fcn(images, classes, variant, backbone=backbone, geometry=geometry,
                             width=width, **kwargs)


@pytest.mark.parametrize("geometry", ["caffe", "same"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_match_input_size(variant, geometry):
    with tf.Graph().as_default(), v1.Session() as sess:
        images, net = build(variant, geometry)
        sess.run(v1.global_variables_initializer())
        for h, w in [(1, 1), (2, 3), (31, 33), (64, 97), (127, 128), (225, 1)]:
            out = sess.run(net.logits, {images: np.random.rand(2, h, w, 3) * 255})
            assert out.shape == (2, h, w, 3), (variant, geometry, h, w)


@pytest.mark.parametrize("geometry", ["caffe", "same"])
def test_every_size_from_1_to_600(geometry):
    # One spatial axis swept at a time keeps each run cheap; FCN-8s has every crop.
    with tf.Graph().as_default(), v1.Session() as sess:
        images, net = build("fcn8s", geometry, width=1 / 512)
        sess.run(v1.global_variables_initializer())
        for size in range(1, 601):
            out = sess.run(net.logits, {images: np.zeros((1, size, 1, 3))})
            assert out.shape == (1, size, 1, 3), size
        for size in range(1, 601, 37):
            out = sess.run(net.logits, {images: np.zeros((1, 1, size, 3))})
            assert out.shape == (1, 1, size, 3), size


@pytest.mark.parametrize("backbone", ["vgg16", "vgg19"])
def test_full_width_static_shapes(backbone):
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 500, 500, 3])
        net = build_fcn(images, 21, "fcn8s", backbone=backbone)
        assert net.logits.shape.as_list() == [1, 500, 500, 21]
        ep = net.end_points
        # Reference blob sizes for a 500x500 input (pad 100, ceil pooling).
        assert ep["pool5"].shape.as_list()[1:3] == [22, 22]
        assert ep["fc6"].shape.as_list()[1:] == [16, 16, 4096]
        assert ep["score_fr"].shape.as_list()[1:] == [16, 16, 21]
        assert ep["upscore2"].shape.as_list()[1:3] == [34, 34]
        assert ep["score_pool4"].shape.as_list()[1:3] == [44, 44]
        assert ep["upscore_pool4"].shape.as_list()[1:3] == [70, 70]
        assert ep["score_pool3"].shape.as_list()[1:3] == [88, 88]
        assert ep["upscore8"].shape.as_list()[1:3] == [568, 568]


def centre_of_mass(plane):
    rows, cols = np.indices(plane.shape)
    total = plane.sum()
    return (rows * plane).sum() / total, (cols * plane).sum() / total


@pytest.mark.parametrize("variant", ["fcn8s", "fcn8s-direct"])
@pytest.mark.parametrize("layer,cell,position", [
    ("score_fr", 4, 32 * 4 + 12.5),
    ("score_pool4", 14, 16 * 14 - 91.5),
    ("score_pool3", 29, 8 * 29 - 95.5),
])
def test_caffe_crops_put_score_cells_where_the_reference_does(variant, layer, cell, position):
    """A unit score at one cell must land, after every deconv and crop, at its input coordinate.

    Zero score layers keep the other branches silent.
    """
    with tf.Graph().as_default(), v1.Session() as sess:
        images, net = build(variant, "caffe", classes=2, score_init="zeros")
        sess.run(v1.global_variables_initializer())
        feed = {images: np.zeros((1, 300, 300, 3))}
        shape = sess.run(tf.shape(net.end_points[layer]), feed)
        delta = np.zeros(shape, np.float32)
        delta[0, cell, cell, 1] = 1.0
        feed[net.end_points[layer]] = delta
        out = sess.run(net.logits, feed)
    assert not out[..., 0].any()  # the diagonal deconvs never mix classes
    row, col = centre_of_mass(out[0, :, :, 1])
    assert row == pytest.approx(position, abs=1e-3)
    assert col == pytest.approx(position, abs=1e-3)


@pytest.mark.parametrize("variant,names", [
    ("fcn32s", ["score_fr", "upscore", "score"]),
    ("fcn16s", ["score_fr", "upscore2", "score_pool4", "score_pool4c", "fuse_pool4",
                "upscore16", "score"]),
    ("fcn8s", ["score_fr", "upscore2", "score_pool4", "score_pool4c", "fuse_pool4",
               "upscore_pool4", "score_pool3", "score_pool3c", "fuse_pool3", "upscore8", "score"]),
    ("fcn8s-atonce", ["scale_pool4", "scale_pool3", "upscore8", "fuse_pool3"]),
])
@pytest.mark.parametrize("backbone", ["vgg16", "vgg19"])
def test_end_points_and_variable_names(variant, names, backbone):
    with tf.Graph().as_default():
        _, net = build(variant, backbone=backbone)
        backbone_names = layer_names(backbone) + [f"pool{i}" for i in range(1, 6)]
        assert set(backbone_names + names) <= set(net.end_points)
        variables = {v.op.name for v in v1.global_variables()}
        for layer in layer_names(backbone) + ["score_fr"]:
            assert {f"{layer}/weights", f"{layer}/biases"} <= variables
        ups = [n for n in names if n.startswith("upscore")]
        for up in ups:
            assert f"{up}/weights" in variables and f"{up}/biases" not in variables
    assert ("conv5_4" in net.end_points) == (backbone == "vgg19")


def test_outer_scope_prefixes_every_variable():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 32, 32, 3])
        build_fcn(images, 2, "fcn16s", width=TINY, scope="model")
        names = [v.op.name for v in v1.global_variables()]
        assert names and all(n.startswith("model/") for n in names)
        assert "model/conv1_1/weights" in names and "model/upscore16/weights" in names
        graph = v1.get_default_graph()
        assert graph.get_tensor_by_name("model/preprocess/mean:0") is not None


def test_score_layers_start_at_zero_and_deconvs_bilinear_and_fixed():
    with tf.Graph().as_default(), v1.Session() as sess:
        _, net = build("fcn8s", classes=5)
        sess.run(v1.global_variables_initializer())
        by_name = {v.op.name: v for v in v1.global_variables()}
        trainable = {v.op.name for v in v1.trainable_variables()}
        for layer in ["score_fr", "score_pool4", "score_pool3"]:
            for part in ["weights", "biases"]:
                assert not sess.run(by_name[f"{layer}/{part}"]).any()
        for layer, factor in [("upscore2", 2), ("upscore_pool4", 2), ("upscore8", 8)]:
            np.testing.assert_array_equal(sess.run(by_name[f"{layer}/weights"]),
                                          bilinear_kernel(factor, 5))
            assert f"{layer}/weights" not in trainable
        assert sess.run(by_name["conv1_1/weights"]).std() > 0


def test_learn_upsampling_makes_deconvs_trainable():
    with tf.Graph().as_default():
        build("fcn8s", learn_upsampling=True)
        trainable = {v.op.name for v in v1.trainable_variables()}
        assert {"upscore2/weights", "upscore_pool4/weights", "upscore8/weights"} <= trainable


def test_dropout_only_when_training():
    with tf.Graph().as_default(), v1.Session() as sess:
        images, net = build("fcn32s", geometry="same", width=1 / 16)
        sess.run(v1.global_variables_initializer())
        # score_fr is zero-initialised; give it weights so the dropout shows in the logits.
        score_w = [v for v in v1.global_variables() if v.op.name == "score_fr/weights"][0]
        sess.run(score_w.assign(tf.ones_like(score_w)))
        feed = {images: np.random.RandomState(0).rand(1, 64, 64, 3) * 255}
        eval_a, eval_b = sess.run(net.logits, feed), sess.run(net.logits, feed)
        np.testing.assert_array_equal(eval_a, eval_b)
        feed[net.is_training] = True
        train_a, train_b = sess.run(net.logits, feed), sess.run(net.logits, feed)
        assert np.abs(train_a - train_b).max() > 1e-6


def test_input_convention_from_weights_object():
    class Source:
        channel_order = "RGB"
        mean = (1.0, 2.0, 3.0)

    with tf.Graph().as_default(), v1.Session() as sess:
        images = v1.placeholder(tf.float32, [1, 8, 8, 3])
        build_fcn(images, 2, "fcn32s", geometry="same", width=TINY, weights=Source())
        graph = v1.get_default_graph()
        order, mean = sess.run(["preprocess/channel_order:0", "preprocess/mean:0"])
        assert order == b"RGB"
        np.testing.assert_allclose(mean, [1, 2, 3])
        centered = graph.get_tensor_by_name("preprocess/centered:0")
        pixel = np.array([10.0, 20.0, 30.0])
        out = sess.run(centered, {images: np.broadcast_to(pixel, (1, 8, 8, 3))})
        np.testing.assert_allclose(out[0, 0, 0], [9, 18, 27])


def test_default_convention_is_reference_bgr():
    with tf.Graph().as_default(), v1.Session() as sess:
        images = v1.placeholder(tf.float32, [1, 8, 8, 3])
        build_fcn(images, 2, "fcn32s", geometry="same", width=TINY)
        centered = v1.get_default_graph().get_tensor_by_name("preprocess/centered:0")
        pixel = np.array([200.0, 150.0, 100.0])  # R, G, B
        out = sess.run(centered, {images: np.broadcast_to(pixel, (1, 8, 8, 3))})
        np.testing.assert_allclose(out[0, 0, 0], [100 - 104.00698793, 150 - 116.66876762,
                                                  200 - 122.67891434], rtol=1e-6)


def test_graphdef_holds_no_large_constants():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 500, 500, 3])
        build_fcn(images, 21, "fcn8s")
        size = len(v1.get_default_graph().as_graph_def().SerializeToString())
    assert size < 1_000_000


def test_unknown_variant_and_geometry_are_refused():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [1, 8, 8, 3])
        with pytest.raises(ValueError, match="fcn4s"):
            build_fcn(images, 2, "fcn4s")
        with pytest.raises(ValueError, match="valid"):
            build_fcn(images, 2, "fcn8s", geometry="valid")
        with pytest.raises(ValueError, match="vgg11"):
            build_fcn(images, 2, "fcn8s", backbone="vgg11")
