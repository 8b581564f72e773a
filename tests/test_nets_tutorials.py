"""The tutorials' networks item for item: layer lists, initialisers, upsampling and fusion.

The Cityscapes small FCN (TF1 resize_bilinear, tf.layers initialisers,
resize-concat-conv skips), the KITTI road FCN-8s (direct weighted sum), the
ADE20K VGG19 FCN (feature-space fusion), FCN-32s with TF-slim's fc8
initialiser, and the TensorFlow example's batch-normalised U-Net.
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import truncnorm

from fcn_graph import build_fcn, upsample_bilinear
from fcn_graph.errors import SettingsError
from fcn_graph.layers import batch_normalization, resize_bilinear
from fcn_graph.nets import simple_fcn, unet
from fcn_graph.upsampling import bilinear_kernel

v1 = tf.compat.v1
# Standard deviation of a unit normal redrawn beyond two standard deviations.
TRUNCATED_STD = truncnorm(-2, 2).std()


def variables_by_name():
    return {v.op.name: v for v in v1.global_variables()}


def static_shapes(end_points, names):
    return {name: end_points[name].shape.as_list() for name in names}


def assert_truncated_normal(values, stddev):
    values = np.asarray(values).ravel()
    assert np.abs(values).max() <= 2 * stddev
    assert np.abs(values).max() > 1.8 * stddev  # the tails reach the cut
    assert abs(values.mean()) < 0.05 * stddev
    assert values.std() == pytest.approx(TRUNCATED_STD * stddev, rel=0.05)


def assert_glorot_uniform(values, fan_in, fan_out):
    values = np.asarray(values).ravel()
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.95 * limit
    assert values.std() == pytest.approx(limit / np.sqrt(3.0), rel=0.05)


def conv_transpose_same(x, kernel, stride, out_h, out_w):
    """TF's SAME conv2d_transpose in numpy: scatter each cell's kernel, crop pad_total // 2."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    full = np.zeros((n, (h - 1) * stride + k, (w - 1) * stride + k, kernel.shape[2]))
    for i in range(h):
        for j in range(w):
            full[:, i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum(
                "nc,abdc->nabd", x[:, i, j], kernel)
    top = ((h - 1) * stride + k - out_h) // 2
    left = ((w - 1) * stride + k - out_w) // 2
    return full[:, top:top + out_h, left:left + out_w]


# --- The Cityscapes small FCN ----------------------------------------------------------------

TUTORIAL_FCN = {"upsampling": "resize", "initializer": "glorot_uniform"}


@pytest.mark.parametrize("height,width", [(32, 48), (37, 50)])
def test_resize_path_is_tf1_resize_bilinear_of_the_coarse_score(height, width):
    image = np.random.RandomState(0).uniform(0, 255, (2, height, width, 3)).astype(np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        net = simple_fcn.build(tf.constant(image), 4, width=0.25, **TUTORIAL_FCN)
        sess.run(v1.global_variables_initializer())
        coarse, logits = sess.run([net.end_points["score"], net.logits])
    assert coarse.shape[1:3] == (-(-height // 16), -(-width // 16))
    with tf.Graph().as_default(), v1.Session() as sess:
        size = [coarse.shape[1] * 16, coarse.shape[2] * 16]
        expected = sess.run(v1.image.resize_bilinear(coarse, size, align_corners=False,
                                                     half_pixel_centers=False))
    np.testing.assert_allclose(logits, expected[:, :height, :width], rtol=1e-5, atol=1e-5)


def test_resize_samples_fifteen_32nds_of_a_cell_after_the_deconvolution():
    # On a linear ramp both are exact linear interpolations away from the
    # borders: resize_bilinear samples y/16, the transposed convolution
    # (y + 0.5)/16 - 0.5, 15/32 of a coarse cell (7.5 output pixels) earlier.
    ramp = np.arange(5, dtype=np.float32).reshape(1, 5, 1, 1) * np.ones((1, 1, 5, 1), np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        resized, deconvolved = sess.run([resize_bilinear(ramp, 16), upsample_bilinear(ramp, 16)])
    rows = np.arange(8, 16 * 4 + 1)
    np.testing.assert_allclose(resized[0, rows, 40, 0], rows / 16, atol=1e-6)
    np.testing.assert_allclose(resized[0, rows, 40, 0] - deconvolved[0, rows, 40, 0], 15 / 32,
                               atol=1e-5)


def test_resize_and_deconv_share_every_weight_and_differ_only_in_upsampling(record_property):
    image = np.random.RandomState(1).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    runs = {}
    for upsampling in ("resize", "deconv"):
        with tf.Graph().as_default():
            v1.set_random_seed(3)
            net = simple_fcn.build(tf.constant(image), 7, width=0.25, upsampling=upsampling,
                                   initializer="glorot_uniform")
            with v1.Session() as sess:
                sess.run(v1.global_variables_initializer())
                runs[upsampling] = sess.run([net.end_points["score"], net.logits])
                names = sorted(variables_by_name())
        runs[upsampling].append(names)
    assert runs["resize"][2] == runs["deconv"][2]
    np.testing.assert_array_equal(runs["resize"][0], runs["deconv"][0])
    agreement = (runs["resize"][1].argmax(-1) == runs["deconv"][1].argmax(-1)).mean()
    record_property("resize_vs_deconv_argmax_agreement", float(agreement))
    print(f"resize vs deconv argmax agreement: {agreement:.4f}")
    assert np.abs(runs["resize"][1] - runs["deconv"][1]).max() > 1e-3


def test_tutorial_small_fcn_layers_and_shapes():
    with tf.Graph().as_default():
        net = simple_fcn.build(tf.zeros([1, 160, 384, 3]), 7, **TUTORIAL_FCN)
        expected = {"conv1": [1, 160, 384, 32]}
        for block, size in enumerate([(80, 192), (40, 96), (20, 48), (10, 24)], start=2):
            expected[f"pool{block - 1}"] = [1, *size, 64 if block > 2 else 32]
            expected[f"conv{block}_1"] = expected[f"conv{block}_2"] = [1, *size, 64]
        expected.update({"score": [1, 10, 24, 7], "upscore": [1, 160, 384, 7],
                         "logits": [1, 160, 384, 7]})
        assert static_shapes(net.end_points, expected) == expected
        assert set(net.end_points) == set(expected)
        layers = ["conv1"] + [f"conv{b}_{i}" for b in range(2, 6) for i in (1, 2)] + ["score"]
        assert sorted(variables_by_name()) == sorted(f"{layer}/{part}" for layer in layers
                                                     for part in ("weights", "biases"))


def test_tutorial_skip_decoder_resizes_concatenates_and_convolves_down_to_half_resolution():
    with tf.Graph().as_default(), v1.Session() as sess:
        net = simple_fcn.build(tf.zeros([1, 160, 384, 3]), 7, skips=True, skip_stem=False,
                               **TUTORIAL_FCN)
        expected = {}
        for level, size in [(3, (20, 48)), (2, (40, 96)), (1, (80, 192))]:
            expected[f"up{level}"] = expected[f"fuse{level}"] = [1, *size, 64]
        expected.update({"conv5_2": [1, 10, 24, 64], "score": [1, 80, 192, 7],
                         "upscore": [1, 160, 384, 7], "logits": [1, 160, 384, 7]})
        assert static_shapes(net.end_points, expected) == expected
        assert "up0" not in net.end_points and "fuse0" not in net.end_points
        graph = v1.get_default_graph()
        assert graph.get_tensor_by_name("concat1:0").shape.as_list() == [1, 80, 192, 128]
        by_name = variables_by_name()
        assert not any(name.startswith("up") for name in by_name)
        assert by_name["fuse1/weights"].shape.as_list() == [3, 3, 128, 64]
        sess.run(v1.global_variables_initializer())
        assert_glorot_uniform(sess.run(by_name["fuse1/weights"]), 9 * 128, 9 * 64)
        for name, variable in by_name.items():
            if name.endswith("/biases"):
                assert not sess.run(variable).any()


def test_small_fcn_refuses_unknown_upsampling_and_initializer():
    with tf.Graph().as_default():
        with pytest.raises(SettingsError, match="upsampling"):
            simple_fcn.build(tf.zeros([1, 16, 16, 3]), 2, upsampling="nearest")
        with pytest.raises(SettingsError, match="initializer"):
            simple_fcn.build(tf.zeros([1, 16, 16, 3]), 2, initializer="orthogonal")


# --- The KITTI road FCN-8s: each score upsampled to the input, weighted sum -------------------

@pytest.mark.parametrize("height,width", [(64, 96), (45, 70)])
def test_direct_head_logits_are_s3_plus_2_s4_plus_4_s7(height, width):
    rng = np.random.RandomState(4)
    image = rng.uniform(0, 255, (2, height, width, 3)).astype(np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        net = build_fcn(tf.constant(image), 3, "fcn8s-direct", geometry="same", width=1 / 16)
        sess.run(v1.global_variables_initializer())
        by_name = variables_by_name()
        # Learnable deconvolutions: test any kernel, not only the bilinear start.
        for factor in (8, 16, 32):
            kernel = by_name[f"upscore{factor}/weights"]
            sess.run(kernel.assign(rng.normal(0, 0.1, kernel.shape.as_list())))
        ep = net.end_points
        fetched = sess.run({"pool3": ep["pool3"], "pool4": ep["pool4"], "fc7": ep["fc7"],
                            "logits": net.logits,
                            **{name: v for name, v in by_name.items()
                               if name.startswith(("score_", "upscore"))}})
    # The reference sums in float64; `magnitude` sums the absolute value of every product that
    # reaches a logit, which bounds float32's rounding however much the terms cancel.
    total = magnitude = 0
    branches = [("pool3", "score_pool3", 8, 1), ("pool4", "score_pool4", 16, 2),
                ("fc7", "score_fr", 32, 4)]
    for source, layer, factor, weight in branches:
        features = fetched[source].astype(np.float64)
        weights = fetched[f"{layer}/weights"][0, 0].astype(np.float64)
        biases = fetched[f"{layer}/biases"].astype(np.float64)
        kernel = fetched[f"upscore{factor}/weights"].astype(np.float64)
        score = np.einsum("nhwc,cd->nhwd", features, weights) + biases
        score_size = np.einsum("nhwc,cd->nhwd", np.abs(features), np.abs(weights)) + np.abs(biases)
        total = total + weight * conv_transpose_same(score, kernel, factor, height, width)
        magnitude = magnitude + weight * conv_transpose_same(score_size, np.abs(kernel), factor,
                                                             height, width)
    error = np.abs(fetched["logits"] - total)
    assert (error <= 1e-5 * magnitude).all(), (error / magnitude).max()


def test_direct_head_layers_and_initial_values():
    with tf.Graph().as_default(), v1.Session() as sess:
        net = build_fcn(tf.zeros([1, 64, 96, 3]), 21, "fcn8s-direct", geometry="same",
                        width=1 / 16)
        expected = {"score_pool3": [1, 8, 12, 21], "score_pool4": [1, 4, 6, 21],
                    "score_fr": [1, 2, 3, 21], "score": [1, 64, 96, 21]}
        expected.update({f"upscore{factor}": [1, 64, 96, 21] for factor in (8, 16, 32)})
        assert static_shapes(net.end_points, expected) == expected
        sess.run(v1.global_variables_initializer())
        by_name = variables_by_name()
        trainable = {v.op.name for v in v1.trainable_variables()}
        for layer in ("score_fr", "score_pool4", "score_pool3"):
            assert not sess.run(by_name[f"{layer}/biases"]).any()
        assert_truncated_normal(sess.run(by_name["score_fr/weights"]), 0.1)
        for factor in (8, 16, 32):
            np.testing.assert_array_equal(sess.run(by_name[f"upscore{factor}/weights"]),
                                          bilinear_kernel(factor, 21))
            assert f"upscore{factor}/weights" in trainable
            assert f"upscore{factor}/biases" not in by_name
        assert {"upscore2", "fuse_pool4", "fuse_pool3"}.isdisjoint(net.end_points)


@pytest.mark.parametrize("variant", ["fcn8s-direct", "fcn8s-features"])
@pytest.mark.parametrize("geometry", ["caffe", "same"])
def test_new_heads_cover_any_input_size_and_train_every_variable(variant, geometry):
    with tf.Graph().as_default(), v1.Session() as sess:
        images = v1.placeholder(tf.float32, [None, None, None, 3])
        net = build_fcn(images, 3, variant, geometry=geometry, width=1 / 64)
        grads = tf.gradients(tf.reduce_sum(net.logits), v1.trainable_variables())
        assert all(g is not None for g in grads)
        sess.run(v1.global_variables_initializer())
        for h, w in [(1, 1), (31, 33), (64, 97)]:
            assert sess.run(net.logits, {images: np.zeros((1, h, w, 3))}).shape == (1, h, w, 3)


# --- The ADE20K VGG19 FCN: fusion in feature space --------------------------------------------

def test_feature_fusion_shapes_and_variables():
    with tf.Graph().as_default():
        net = build_fcn(tf.zeros([1, 224, 224, 3]), 151, "fcn8s-features", backbone="vgg19",
                        geometry="same", width=1 / 16)
        expected = {"pool3": [1, 28, 28, 16], "pool4": [1, 14, 14, 32],
                    "score_fr": [1, 7, 7, 151],
                    "upscore2": [1, 14, 14, 32], "fuse_pool4": [1, 14, 14, 32],
                    "upscore_pool4": [1, 28, 28, 16], "fuse_pool3": [1, 28, 28, 16],
                    "upscore8": [1, 224, 224, 151], "score": [1, 224, 224, 151]}
        assert static_shapes(net.end_points, expected) == expected
        assert net.logits is net.end_points["score"]
        shapes = {name: v.shape.as_list() for name, v in variables_by_name().items()}
        assert {name: shape for name, shape in shapes.items()
                if name.startswith(("upscore", "score"))} == {
            "score_fr/weights": [1, 1, 256, 151], "score_fr/biases": [151],
            "upscore2/weights": [4, 4, 32, 151], "upscore2/biases": [32],
            "upscore_pool4/weights": [4, 4, 16, 32], "upscore_pool4/biases": [16],
            "upscore8/weights": [16, 16, 151, 16], "upscore8/biases": [151]}
        trainable = {v.op.name for v in v1.trainable_variables()}
        assert {"upscore2/weights", "upscore_pool4/weights", "upscore8/weights"} <= trainable


def test_feature_fusion_adds_the_pooled_features_unscored():
    with tf.Graph().as_default(), v1.Session() as sess:
        net = build_fcn(tf.constant(np.random.RandomState(5).uniform(0, 255, (1, 64, 64, 3)),
                                    tf.float32), 5, "fcn8s-features", geometry="same",
                        width=1 / 16)
        sess.run(v1.global_variables_initializer())
        ep = net.end_points
        got = sess.run({name: ep[name] for name in ["pool4", "upscore2", "fuse_pool4", "pool3",
                                                    "upscore_pool4", "fuse_pool3"]})
    np.testing.assert_allclose(got["fuse_pool4"], got["pool4"] + got["upscore2"], rtol=1e-6)
    np.testing.assert_allclose(got["fuse_pool3"], got["pool3"] + got["upscore_pool4"], rtol=1e-6)


def test_feature_fusion_initialisers():
    with tf.Graph().as_default(), v1.Session() as sess:
        build_fcn(tf.zeros([1, 32, 32, 3]), 151, "fcn8s-features", geometry="same", width=1 / 16)
        sess.run(v1.global_variables_initializer())
        values = sess.run(variables_by_name())
    for layer in ("score_fr", "upscore2", "upscore_pool4", "upscore8"):
        assert not values[f"{layer}/biases"].any()
    assert_truncated_normal(values["upscore8/weights"], 0.02)  # 618,496 draws
    assert_truncated_normal(values["score_fr/weights"], 0.02)


# --- FCN-32s initialised as TF-slim's fc8 -----------------------------------------------------

def test_score_init_glorot_uniform_is_slims_fc8():
    with tf.Graph().as_default(), v1.Session() as sess:
        build_fcn(tf.zeros([1, 32, 32, 3]), 21, "fcn32s", geometry="same", width=1 / 16,
                  score_init="glorot_uniform")
        sess.run(v1.global_variables_initializer())
        by_name = variables_by_name()
        weights, biases = sess.run([by_name["score_fr/weights"], by_name["score_fr/biases"]])
    assert weights.shape == (1, 1, 256, 21)
    assert_glorot_uniform(weights, 256, 21)
    assert not biases.any()


def test_unknown_score_init_is_refused_naming_the_option():
    with tf.Graph().as_default(), pytest.raises(SettingsError, match="score_init"):
        build_fcn(tf.zeros([1, 32, 32, 3]), 2, "fcn32s", score_init="xavier_normal")


# --- The TensorFlow example's U-Net -----------------------------------------------------------

def unet_layer_shapes(size, channels, classes):
    expected = {}
    for level in range(5):
        side, maps = size >> level, channels * 2 ** level
        expected[f"down{level}_1"] = expected[f"down{level}_2"] = [1, side, side, maps]
        expected[f"pool{level}"] = [1, side // 2, side // 2, maps]
        expected[f"upconv{level}"] = [1, side, side, maps]
        expected[f"up{level}_1"] = expected[f"up{level}_2"] = [1, side, side, maps]
    expected["bottom_1"] = expected["bottom_2"] = [1, size >> 5, size >> 5, channels * 32]
    expected["score"] = expected["logits"] = [1, size, size, classes]
    return expected


def test_tf_example_unet_layers_shapes_and_variables():
    with tf.Graph().as_default():
        net = unet.build(tf.zeros([1, 256, 256, 3]), 8, style="tf_example")
        expected = unet_layer_shapes(256, 32, 8)
        assert static_shapes(net.end_points, expected) == expected
        assert set(net.end_points) == set(expected)
        graph = v1.get_default_graph()
        assert graph.get_tensor_by_name("concat0:0").shape.as_list() == [1, 256, 256, 64]
        shapes = {name: v.shape.as_list() for name, v in variables_by_name().items()}
        bn = ("BatchNorm/gamma", "BatchNorm/beta", "BatchNorm/moving_mean",
              "BatchNorm/moving_variance")
        convs = [name for name in expected if name[-2:] in ("_1", "_2")]
        wanted = {f"{conv}/{part}" for conv in convs for part in ("weights", "biases") + bn}
        wanted |= {f"concat{level}/{part}" for level in range(5) for part in bn}
        wanted |= {f"upconv{level}/{part}" for level in range(5) for part in ("weights", "biases")}
        wanted |= {"score/weights", "score/biases"}
        assert set(shapes) == wanted
        assert shapes["upconv4/weights"] == [2, 2, 512, 1024]
        assert shapes["concat4/BatchNorm/gamma"] == [1024]
        assert shapes["score/weights"] == [1, 1, 32, 8]
        moving = {v.op.name for v in v1.global_variables()} - {
            v.op.name for v in v1.trainable_variables()}
        assert moving == {name for name in wanted if "moving_" in name}
        assert len(v1.get_collection(v1.GraphKeys.UPDATE_OPS)) == 2 * (2 * 5 + 2 + 3 * 5)
        assert net.end_points["score"].op.type != "Relu"


def test_tf_example_unet_scales_inputs_to_unit_range_and_starts_glorot():
    with tf.Graph().as_default(), v1.Session() as sess:
        images = tf.fill([1, 32, 32, 3], 51.0)
        unet.build(images, 2, style="tf_example", width=1 / 8)
        sess.run(v1.global_variables_initializer())
        scaled, mean, order = sess.run(["normalized:0", "preprocess/mean:0",
                                        "preprocess/channel_order:0"])
        np.testing.assert_allclose(scaled, 0.2, rtol=1e-6)
        assert not mean.any() and order == b"RGB"
        kernel = sess.run(variables_by_name()["up0_1/weights"])
        assert kernel.shape == (3, 3, 8, 4)  # the 4-channel skip and the 4-channel upconv
        assert np.abs(kernel).max() <= np.sqrt(6.0 / (9 * 8 + 9 * 4))


def test_batch_norm_normalises_with_batch_statistics_in_training_and_moving_averages_after():
    rng = np.random.RandomState(6)
    x = rng.normal(3.0, 2.0, (4, 5, 5, 3)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(0, 1, 3)
    with tf.Graph().as_default(), v1.Session() as sess:
        training = v1.placeholder_with_default(False, [])
        y = batch_normalization(tf.constant(x), "bn", training)
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        sess.run(v1.global_variables_initializer())
        by_name = variables_by_name()
        sess.run([by_name["bn/gamma"].assign(gamma), by_name["bn/beta"].assign(beta)])
        mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
        trained, _ = sess.run([y, updates], {training: True})
        np.testing.assert_allclose(trained, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta,
                                   rtol=1e-4, atol=1e-4)
        moving_mean, moving_var = sess.run([by_name["bn/moving_mean"],
                                            by_name["bn/moving_variance"]])
        np.testing.assert_allclose(moving_mean, 0.01 * mean, rtol=1e-4)
        np.testing.assert_allclose(moving_var, 0.99 + 0.01 * x.var((0, 1, 2), ddof=1), rtol=1e-5)
        inferred, _ = sess.run([y, updates])
        np.testing.assert_allclose(
            inferred, gamma * (x - moving_mean) / np.sqrt(moving_var + 1e-3) + beta, rtol=1e-4,
            atol=1e-4)
        after = sess.run([by_name["bn/moving_mean"], by_name["bn/moving_variance"]])
    np.testing.assert_array_equal(after[0], moving_mean)
    np.testing.assert_array_equal(after[1], moving_var)


def test_tf_example_unet_couples_a_batch_only_while_training():
    rng = np.random.RandomState(7)
    first, other_a, other_b = (rng.uniform(0, 255, (1, 32, 32, 3)) for _ in range(3))
    with tf.Graph().as_default(), v1.Session() as sess:
        images = v1.placeholder(tf.float32, [None, 32, 32, 3])
        net = unet.build(images, 3, style="tf_example", width=1 / 8)
        sess.run(v1.global_variables_initializer())

        def first_logits(partner, training):
            feed = {images: np.concatenate([first, partner]), net.is_training: training}
            return sess.run(net.logits, feed)[0]

        np.testing.assert_allclose(first_logits(other_a, False), first_logits(other_b, False),
                                   rtol=1e-5, atol=1e-5)
        assert np.abs(first_logits(other_a, True) - first_logits(other_b, True)).max() > 1e-3


def test_tf_example_unet_second_tower_reuses_every_variable():
    with tf.Graph().as_default():
        unet.build(tf.zeros([1, 32, 32, 3]), 2, style="tf_example", width=1 / 8)
        count = len(v1.global_variables())
        with v1.variable_scope(v1.get_variable_scope(), reuse=True):
            unet.build(tf.zeros([2, 64, 32, 3]), 2, style="tf_example", width=1 / 8)
        assert len(v1.global_variables()) == count


def test_unknown_unet_style_is_refused():
    with tf.Graph().as_default(), pytest.raises(SettingsError, match="tf_example"):
        unet.build(tf.zeros([1, 32, 32, 3]), 2, style="keras")
