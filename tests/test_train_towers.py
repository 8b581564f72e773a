"""Data-parallel towers: devices, shared variables, combined loss."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.models import ModelSpec
from fcn_graph.training import TrainConfig
from fcn_graph.training.towers import build_tower_loss, tower_devices

v1 = tf.compat.v1


class Source:
    ignore_label = 255


SPEC = ModelSpec("fcn32s", 3, geometry="same", width=1 / 32, dropout_rate=0.0)


def build(towers, normalize):
    config = TrainConfig(model="fcn32s", num_classes=3, batch_size=4, loss_normalize=normalize)
    images = v1.placeholder(tf.float32, [4, 32, 32, 3])
    labels = v1.placeholder(tf.int32, [4, 32, 32])
    loss = build_tower_loss(config, {"image": images, "label": labels}, Source(), SPEC,
                            ["/cpu:0"] * towers)
    return images, labels, loss


def test_without_gpus_every_tower_is_on_the_cpu():
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has GPUs")
    assert tower_devices(None) == ["/cpu:0"]
    assert tower_devices(3) == ["/cpu:0"] * 3


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_towers_share_variables_and_combine_like_one_batch(normalize):
    feed_values = (np.random.RandomState(0).rand(4, 32, 32, 3) * 255,
                   np.random.RandomState(1).randint(0, 3, (4, 32, 32)))
    results = {}
    for towers in (1, 2):
        with tf.Graph().as_default() as graph:
            v1.set_random_seed(0)
            images, labels, loss = build(towers, normalize)
            ops = [op.name for op in graph.get_operations()]
            assert any(name.startswith("tower_1/") for name in ops) == (towers == 2)
            assert graph.get_tensor_by_name("preprocess/mean:0") is not None
            variables = [v.op.name for v in v1.global_variables()]
            with v1.Session() as sess:
                sess.run(v1.global_variables_initializer())
                score = [v for v in v1.global_variables() if v.op.name == "score_fr/weights"][0]
                sess.run(score.assign(tf.random.stateless_normal(score.shape, [1, 2])))
                results[towers] = (variables, sess.run(loss, {images: feed_values[0],
                                                              labels: feed_values[1]}))
    assert results[1][0] == results[2][0]  # one set of variables, shared by both towers
    assert results[2][1] == pytest.approx(results[1][1], rel=1e-5)


def test_each_tower_is_placed_on_its_gpu_and_the_variables_on_the_cpu():
    """Placement is recorded when the graph is built, so no GPU is needed to check it."""
    config = TrainConfig(model="fcn32s", num_classes=3, batch_size=4, loss_normalize="sum")
    with tf.Graph().as_default() as graph:
        batch = {"image": v1.placeholder(tf.float32, [4, 32, 32, 3]),
                 "label": v1.placeholder(tf.int32, [4, 32, 32])}
        build_tower_loss(config, batch, Source(), SPEC, ["/gpu:0", "/gpu:1"])
        ops = graph.get_operations()
    def where(op):
        spec = tf.DeviceSpec.from_string(op.device)
        return (spec.device_type or "").upper(), spec.device_index

    convs = {op.name: where(op) for op in ops if op.type == "Conv2D"}
    assert convs and all(device == ("GPU", 1 if name.startswith("tower_1/") else 0)
                         for name, device in convs.items()), convs
    variables = [op for op in ops if op.type in ("VarHandleOp", "VariableV2")]
    assert variables and all(where(op) == ("CPU", 0) for op in variables)
