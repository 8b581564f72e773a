"""The tutorials' simple FCN (with and without skips) and the U-Net."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph import pixelwise_softmax_loss
from fcn_graph.layers import DECAY_COLLECTION
from fcn_graph.nets import IMAGENET_RGB_MEAN, simple_fcn, unet

v1 = tf.compat.v1
NETS = ["simple_fcn", "simple_fcn_skips", "unet"]
BUILDERS = {"simple_fcn": (simple_fcn.build, {"skips": False, "width": 0.25}),
            "simple_fcn_skips": (simple_fcn.build, {"skips": True, "width": 0.25}),
            "unet": (unet.build, {"width": 0.125, "depth": 3})}
STRIDE = {"simple_fcn": 16, "simple_fcn_skips": 16, "unet": 8}


def build(name, images, num_classes=3, **options):
    builder, small = BUILDERS[name]
    return builder(images, num_classes, **{**small, **options})


def run_logits(name, image, seed=0):
    with tf.Graph().as_default():
        v1.set_random_seed(seed)
        images = v1.placeholder(tf.float32, [None, None, None, 3])
        net = build(name, images)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            return sess.run(net.logits, {images: image})


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("height,width", [(37, 50), (32, 48), (17, 9)])
def test_logits_have_the_input_size_even_when_not_divisible_by_16(name, height, width):
    image = np.random.RandomState(0).uniform(0, 255, (2, height, width, 3))
    assert run_logits(name, image).shape == (2, height, width, 3)


@pytest.mark.parametrize("name", NETS)
def test_static_shapes_propagate_to_logits(name):
    with tf.Graph().as_default():
        net = build(name, tf.zeros([1, 37, 50, 3]), num_classes=4)
        assert net.logits.shape.as_list() == [1, 37, 50, 4]


@pytest.mark.parametrize("name", NETS)
def test_padding_is_the_mean_colour_at_bottom_right_so_pixels_stay_aligned(name):
    # Padding an image with its mean colour up to the network stride by hand
    # must not change any logit of the original pixels.
    rng = np.random.RandomState(1)
    image = rng.uniform(0, 255, (1, 37, 50, 3)).astype(np.float32)
    stride = STRIDE[name]
    padded = np.empty((1, -(-37 // stride) * stride, -(-50 // stride) * stride, 3), np.float32)
    padded[:] = np.array(IMAGENET_RGB_MEAN, np.float32)
    padded[:, :37, :50] = image
    np.testing.assert_allclose(run_logits(name, padded)[:, :37, :50], run_logits(name, image),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NETS)
def test_tf1_variable_names_weight_decay_and_input_convention(name):
    with tf.Graph().as_default() as graph:
        build(name, tf.zeros([1, 32, 32, 3]))
        variables = v1.global_variables()
        names = {v.op.name for v in variables}
        assert all(n.rsplit("/", 1)[-1] in ("weights", "biases") for n in names)
        for v in variables:
            if v.op.name.endswith("/weights"):
                assert v.shape.rank == 4
                assert v.op.name.replace("/weights", "/biases") in names or name == NETS[1]
        decayed = {v.op.name for v in v1.get_collection(DECAY_COLLECTION)}
        assert decayed == {n for n in names if n.endswith("/weights")}
        with v1.Session() as sess:
            order = sess.run(graph.get_tensor_by_name("preprocess/channel_order:0"))
        assert order == b"RGB"


def test_the_skip_variant_adds_learnable_bilinear_upsampling_per_level():
    with tf.Graph().as_default():
        build("simple_fcn_skips", tf.zeros([1, 32, 32, 3]))
        ups = sorted(v.op.name for v in v1.trainable_variables() if v.op.name.startswith("up"))
    assert ups == [f"up{level}/weights" for level in range(4)]


@pytest.mark.parametrize("name", NETS)
def test_a_second_tower_reuses_every_variable(name):
    with tf.Graph().as_default():
        build(name, tf.zeros([1, 32, 32, 3]))
        count = len(v1.global_variables())
        with v1.variable_scope(v1.get_variable_scope(), reuse=True):
            build(name, tf.zeros([1, 40, 24, 3]))
        assert len(v1.global_variables()) == count


@pytest.mark.parametrize("name", NETS)
def test_overfits_a_two_region_image(name):
    # Every layer must receive gradient and a handful of Adam steps must
    # separate a bright square from a dark background. The square's edges
    # fall midway between cells of the 1/16 grid, where even the coarse
    # net's bilinear upsampling can place a boundary.
    label = np.zeros((1, 64, 64), np.int32)
    label[:, 16:48, 16:48] = 1
    image = np.where(label[..., None] == 1, 200.0, 40.0) * np.ones(3)
    with tf.Graph().as_default():
        v1.set_random_seed(0)
        net = build(name, tf.constant(image, tf.float32), num_classes=2,
                    is_training=tf.constant(False))
        loss = pixelwise_softmax_loss(net.logits, label, normalize="mean")
        grads = tf.gradients(loss, v1.trainable_variables())
        assert all(g is not None for g in grads)
        train_op = v1.train.AdamOptimizer(3e-3).minimize(loss)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            first = sess.run(loss)
            for _ in range(40):
                sess.run(train_op)
            last, logits = sess.run([loss, net.logits])
    assert last < 0.25 * first
    assert (logits.argmax(-1) == label).mean() > 0.95


def test_unet_dropout_only_while_training():
    image = np.random.RandomState(2).uniform(0, 255, (1, 16, 16, 3))
    with tf.Graph().as_default():
        net = build("unet", tf.constant(image, tf.float32), dropout_rate=0.5)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            a, b = (sess.run(net.logits) for _ in range(2))
            c = sess.run(net.logits, {net.is_training: True})
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-6


def test_unet_depth_sets_the_number_of_levels():
    with tf.Graph().as_default():
        net = build("unet", tf.zeros([1, 20, 20, 3]), depth=2)
        assert "down1_2" in net.end_points and "down2_1" not in net.end_points
        assert net.end_points["bottom_2"].shape.as_list()[1:3] == [5, 5]
    with tf.Graph().as_default(), pytest.raises(ValueError, match="depth"):
        build("unet", tf.zeros([1, 20, 20, 3]), depth=0)


@pytest.mark.parametrize("name", NETS)
def test_unknown_options_are_refused(name):
    with tf.Graph().as_default(), pytest.raises(TypeError, match="backbone"):
        build(name, tf.zeros([1, 16, 16, 3]), backbone="vgg16")
