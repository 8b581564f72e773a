"""TensorFlow SavedModels and VGG-named checkpoints, written by TensorFlow itself."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.cli import main
from fcn_graph.errors import SettingsError
from fcn_graph.weights import WeightsError, detect_format, load_weights
from fcn_graph.weights.slim import SLIM_RGB_MEAN
from fcn_graph.weights.synthetic import random_weights

v1 = tf.compat.v1
# 2..16 channels per convolution, 128 in fc6/fc7; fc6 stays 7x7.
WIDTH = 1 / 32
RGB_MEAN = (123.68, 116.779, 103.939)


def vgg_graph(weights):
    """A forward VGG on `image_input`, variables named as the tensorflow-vgg port names them."""
    images = v1.placeholder(tf.float32, [None, 224, 224, 3], name="image_input")
    keep_prob = v1.placeholder_with_default(1.0, [], name="keep_prob")
    net, outputs = images, {}
    for name, (kernel, bias) in weights.layers.items():
        with v1.variable_scope(name):
            w = v1.get_variable("weights" if name.startswith("fc") else "filter",
                                initializer=kernel)
            b = v1.get_variable("biases", initializer=bias)
        padding = "VALID" if name == "fc6" else "SAME"
        net = tf.nn.relu(tf.nn.conv2d(net, w, 1, padding) + b)
        if name.startswith("fc"):
            net = outputs[name] = tf.nn.dropout(net, rate=1 - keep_prob)
        elif f"{name[:-1]}{int(name[-1]) + 1}" not in weights.layers:  # the block's last conv
            net = outputs[f"pool{name[4]}"] = tf.nn.max_pool2d(net, 2, 2, "SAME")
    tf.identity(outputs["pool3"], name="layer3_out")
    tf.identity(outputs["pool4"], name="layer4_out")
    tf.identity(outputs["fc7"], name="layer7_out")


def write_saved_model(export_dir, weights):
    """A TF1 SavedModel tagged `vgg16` with the tensors image_input ... layer7_out."""
    with tf.Graph().as_default():
        vgg_graph(weights)
        builder = v1.saved_model.Builder(str(export_dir))
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            builder.add_meta_graph_and_variables(sess, ["vgg16"])
        builder.save()
    return export_dir


def write_checkpoint(prefix, variables):
    """A V2 checkpoint of {variable name: value}, written by tf.compat.v1.train.Saver."""
    with tf.Graph().as_default():
        saved = [v1.Variable(value, name=name) for name, value in variables.items()]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            return v1.train.Saver(saved).save(sess, str(prefix), write_meta_graph=False)


def vgg_variables(weights, scope, kernel_name, bias_name, flat_fc):
    variables = {}
    for name, (kernel, bias) in weights.layers.items():
        if flat_fc and name.startswith("fc"):
            kernel = kernel.reshape(-1, kernel.shape[-1])
        variables[f"{scope}{name}/{kernel_name}"] = kernel
        variables[f"{scope}{name}/{bias_name}"] = bias
    return variables


def test_saved_model_loads_once_its_convention_is_given(tmp_path):
    original = random_weights("vgg16", width=WIDTH, seed=1, fc8_classes=None)
    export_dir = write_saved_model(tmp_path / "vgg", original)
    assert detect_format(export_dir) == "savedmodel"

    with pytest.raises(WeightsError, match=r"vgg: a tensorflow savedmodel does not record the "
                                           r"input convention .* give channel_order='RGB' or "
                                           r"'BGR' \(--channel-order RGB\|BGR\) and "
                                           r"mean=\(R, G, B\) \(--mean R,G,B\)"):
        load_weights(export_dir)
    with pytest.raises(WeightsError, match=r"give mean=\(R, G, B\) \(--mean R,G,B\)$"):
        load_weights(export_dir, channel_order="BGR")

    for path in (export_dir, export_dir / "saved_model.pb"):
        loaded = load_weights(path, arch="vgg16", channel_order="bgr", mean=RGB_MEAN)
        assert loaded.mismatches(original) == []
        assert loaded.source == "tensorflow savedmodel"
        # Given per colour, held in the weights' channel order.
        assert (loaded.channel_order, loaded.mean) == ("BGR", RGB_MEAN[::-1])


@pytest.mark.parametrize("scope, kernel_name, bias_name, flat_fc", [
    ("", "filter", "biases", True),            # tensorflow-vgg ports
    ("encoder/", "kernel", "bias", False),      # Keras-style names under a scope
    ("model/vgg/", "weights", "biases", True),  # nested scopes
])
def test_checkpoint_with_vgg_names(tmp_path, scope, kernel_name, bias_name, flat_fc):
    original = random_weights("vgg19", width=WIDTH, seed=2)
    variables = vgg_variables(original, scope, kernel_name, bias_name, flat_fc)
    variables["global_step"] = np.int64(7)
    variables[f"{scope}conv1_1/{kernel_name}/Momentum"] = original.layers["conv1_1"][0]
    saved = write_checkpoint(tmp_path / "model.ckpt", variables)

    with pytest.raises(WeightsError, match=r"model\.ckpt: a tensorflow checkpoint does not "
                                           r"record the input convention"):
        load_weights(saved)
    loaded = load_weights(saved, channel_order="RGB", mean=RGB_MEAN)

    assert loaded.mismatches(original) == []
    assert (loaded.arch, loaded.source) == ("vgg19", "tensorflow checkpoint")
    assert (loaded.channel_order, loaded.mean) == ("RGB", RGB_MEAN)


def test_flat_fc6_rows_run_over_height_width_channels(tmp_path):
    """A dense fc6 multiplies pool5 flattened by tf.reshape of NHWC: rows are H, W, C."""
    backbone = random_weights("vgg16", width=WIDTH, include_top=False)
    channels, outputs = backbone.layers["conv5_3"][0].shape[-1], 5
    fc6 = np.arange(7 * 7 * channels * outputs, dtype=np.float32).reshape(-1, outputs)
    variables = vgg_variables(backbone, "", "weights", "biases", flat_fc=False)
    variables.update({"fc6/weights": fc6, "fc6/biases": np.zeros(outputs, np.float32)})
    saved = write_checkpoint(tmp_path / "flat.ckpt", variables)

    kernel = load_weights(saved, channel_order="RGB", mean=RGB_MEAN).layers["fc6"][0]

    assert kernel.shape == (7, 7, channels, outputs)
    h, w, c, o = 2, 5, 3, 4
    assert kernel[h, w, c, o] == fc6[(h * 7 + w) * channels + c, o]
    # The 7x7 convolution over pool5 equals the dense layer over pool5 as tf.reshape flattens it.
    pool5 = np.random.default_rng(0).standard_normal((1, 7, 7, channels)).astype(np.float32)
    dense = tf.reshape(pool5, [1, -1]).numpy() @ fc6
    conv = tf.nn.conv2d(pool5, kernel, 1, "VALID").numpy().reshape(1, outputs)
    np.testing.assert_allclose(conv, dense, rtol=1e-5)


def test_unrecognised_variable_names_are_listed_not_guessed(tmp_path):
    saved = write_checkpoint(tmp_path / "other.ckpt", {
        "W_conv1": np.zeros((3, 3, 3, 2), np.float32), "b_conv1": np.zeros(2, np.float32),
        "global_step": np.int64(0)})
    with pytest.raises(WeightsError, match=r"other\.ckpt: none of its 3 variables has a VGG "
                                           r"layer name \(found: W_conv1, b_conv1, "
                                           r"global_step\); expected conv1_1/weights \(or "
                                           r"filter, kernel\) and conv1_1/biases"):
        load_weights(saved, channel_order="RGB", mean=RGB_MEAN)


def test_ambiguous_checkpoints_are_refused(tmp_path):
    weights = random_weights("vgg16", width=WIDTH, include_top=False)
    twice = vgg_variables(weights, "", "weights", "biases", flat_fc=False)
    twice["conv2_1/kernel"] = weights.layers["conv2_1"][0]
    with pytest.raises(WeightsError, match=r"layer conv2_1 has two kernels, conv2_1/kernel and "
                                           r"conv2_1/weights"):
        load_weights(write_checkpoint(tmp_path / "twice.ckpt", twice))
    two_nets = {**vgg_variables(weights, "a/", "weights", "biases", flat_fc=False),
                **vgg_variables(weights, "b/", "weights", "biases", flat_fc=False)}
    with pytest.raises(WeightsError, match=r"VGG variables under several scopes \(a, b\)"):
        load_weights(write_checkpoint(tmp_path / "two.ckpt", two_nets))


def test_convention_overrides_any_format(tmp_path):
    original = random_weights("vgg16", width=WIDTH)
    saved = write_checkpoint(tmp_path / "vgg_16.ckpt", vgg_variables(
        original, "vgg_16/", "weights", "biases", flat_fc=False))
    assert load_weights(saved).mean == SLIM_RGB_MEAN
    # A new order keeps each colour's mean, listed in the new order.
    assert load_weights(saved, channel_order="BGR").mean == SLIM_RGB_MEAN[::-1]
    assert load_weights(saved, mean=(1, 2, 3)).mean == (1.0, 2.0, 3.0)
    with pytest.raises(SettingsError, match=r"channel order 'RBG': choose RGB or BGR"):
        load_weights(saved, channel_order="RBG")
    with pytest.raises(SettingsError, match=r"mean \(1, 2\): give three numbers"):
        load_weights(saved, mean=(1, 2))
    with pytest.raises(SettingsError, match=r"vgg_16\.ckpt: matconvnet_swap_hw "
                                            r"\(--matconvnet-swap-hw\) applies only to "
                                            r"MatConvNet \.mat files, not to a checkpoint file"):
        load_weights(saved, matconvnet_swap_hw=True)


def test_cli_takes_the_convention(tmp_path, capsys):
    original = random_weights("vgg16", width=WIDTH, include_top=False)
    saved = write_checkpoint(tmp_path / "model.ckpt", vgg_variables(
        original, "", "kernel", "bias", flat_fc=False))
    assert main(["weights", "inspect", saved]) == 1
    assert "--channel-order RGB|BGR" in capsys.readouterr().err

    out = tmp_path / "model.npz"
    assert main(["weights", "convert", saved, str(out), "--channel-order", "bgr",
                 "--mean", "123.68,116.779,103.939"]) == 0
    converted = load_weights(out)
    assert converted.mismatches(original) == []
    assert (converted.channel_order, converted.mean) == ("BGR", RGB_MEAN[::-1])
    assert main(["weights", "inspect", str(out)]) == 0
    assert "103.9390, 116.7790, 123.6800 (B, G, R)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["weights", "inspect", saved, "--mean", "1,2"])
    assert "'1,2': give three comma-separated numbers" in capsys.readouterr().err
