"""--recompute: the first two VGG blocks run again during backprop instead of being kept, the
gradients and updates are those without it, and nets without a VGG backbone refuse it."""
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fcn_graph.errors import SettingsError
from fcn_graph.losses import pixelwise_softmax_loss
from fcn_graph.models import ModelSpec, build
from fcn_graph.training import TrainConfig, train
from fcn_graph.vgg import RECOMPUTED_BLOCKS

v1 = tf.compat.v1


def op_times(run_metadata):
    """{op name: (start, end) in microseconds} of a traced run."""
    return {node.node_name: (node.all_start_micros,
                             node.all_start_micros + node.op_end_rel_micros)
            for device in run_metadata.step_stats.dev_stats for node in device.node_stats}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_gradient_runs_blocks_one_and_two_again_and_equals_the_plain_one(precision):
    """One graph, two networks on the same variables: plain, and with its first two blocks
    recomputed. Their gradients agree; only the second runs conv1_1 .. conv2_2 twice."""
    images = np.random.default_rng(0).uniform(0, 255, (1, 40, 40, 3)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 3, (1, 40, 40)).astype(np.int32)
    graph = tf.Graph()
    with graph.as_default():
        # No dropout: the two networks would draw different masks.
        spec = ModelSpec(name="fcn32s", num_classes=3, width=1 / 16, precision=precision,
                         dropout_rate=0.0)
        gradients = {}
        for name, blocks in (("plain", 0), ("recomputed", RECOMPUTED_BLOCKS)):
            with v1.variable_scope(v1.get_variable_scope(), reuse=v1.AUTO_REUSE), \
                    tf.name_scope(name):
                net = build(spec, tf.constant(images), is_training=tf.constant(True),
                            recompute_blocks=blocks)
                loss = pixelwise_softmax_loss(net.logits, tf.constant(labels))
                variables = v1.trainable_variables()
                gradients[name] = dict(zip([v.op.name for v in variables],
                                           tf.gradients(loss, variables)))
        assert set(net.end_points) >= {"conv1_1", "pool2", "conv3_1", "fc7"}
        init = v1.global_variables_initializer()
        # Random score layers, so that every gradient is non-zero.
        randomise = [v.assign(tf.random.normal(v.shape, stddev=0.1, seed=2))
                     for v in v1.global_variables() if "score" in v.op.name]
    traces = {}
    with v1.Session(graph=graph) as session:
        session.run(init)
        session.run(randomise)
        values = {}
        for name, grads in gradients.items():
            traces[name] = v1.RunMetadata()
            values[name] = session.run(
                grads, options=v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE),
                run_metadata=traces[name])
    assert set(values["plain"]) == set(values["recomputed"])
    for name, plain in values["plain"].items():
        assert np.abs(plain).max() > 0, name
        # Multithreaded float32 reductions (bias and filter gradients over every pixel)
        # sum in a varying order from run to run; a wrong gradient differs at once.
        np.testing.assert_allclose(values["recomputed"][name], plain, rtol=1e-4,
                                   atol=1e-4 * np.abs(plain).max(), err_msg=name)

    def convolution_runs(name, layer):
        return sum(1 for op in op_times(traces[name])
                   if layer + "/" in op and op.split("/")[-1] in ("Conv2D", "relu"))
    for layer in ("conv1_1", "conv2_2"):
        assert convolution_runs("recomputed", layer) == 2 * convolution_runs("plain", layer) > 0
    assert convolution_runs("recomputed", "conv3_1") == convolution_runs("plain", "conv3_1") > 0
    # The second run waits for the backward pass to reach pool2 (conv3_1's input gradient):
    # started earlier, it would hold its activations beside the first run's.
    times = op_times(traces["recomputed"])
    second_run = [start for op, (start, _) in times.items() if "/recompute/conv" in op
                  and op.rsplit("/recompute/", 1)[1].endswith(("/Conv2D", "/relu"))]
    reached = [end for op, (_, end) in times.items()
               if op.endswith("conv3_1/Conv2D_grad/Conv2DBackpropInput")]
    assert second_run and len(reached) == 1
    assert min(second_run) >= reached[0]


@pytest.mark.parametrize("geometry, towers", [("caffe", 1), ("same", 1), ("caffe", 2)])
def test_updates_equal_those_without_recomputation(tmp_path, geometry, towers):
    def run(name, recompute):
        config = TrainConfig(model="fcn8s", width=0.125, geometry=geometry, dropout_rate=0.0,
                             dataset="synthetic", data_dir=str(tmp_path / "data"),
                             dataset_options={"size": (48, 48), "num_train": 4, "num_val": 2},
                             crop_size=None, batch_size=2, max_steps=3, save_every=3,
                             eval_every=3, eval_images=2, seed=5, deterministic=True,
                             recompute=recompute, towers=towers, run_dir=str(tmp_path / name),
                             image_summaries=0, xla="off")
        result = train(config)
        reader = tf.train.load_checkpoint(result["checkpoint"])
        graph = EventAccumulator(str(tmp_path / name)).Reload().Graph()
        return result, {name: reader.get_tensor(name) for name in
                        ("conv1_1/weights", "conv2_2/weights", "score_fr/weights")}, \
            sum(node.op == "Conv2D" for node in graph.node)

    plain, plain_weights, plain_convolutions = run("plain", False)
    again, again_weights, again_convolutions = run("recomputed", True)
    # The training graph holds the gradient's second run of conv1_1 .. conv2_2, per tower.
    assert again_convolutions == plain_convolutions + 4 * towers
    np.testing.assert_allclose([loss for _, loss in again["history"]],
                               [loss for _, loss in plain["history"]], rtol=1e-6)
    # Each step moves a weight by up to the learning rate (1e-3, Adam): a wrong gradient
    # would show a hundred times over the rounding allowed here.
    for name, value in plain_weights.items():
        assert not np.allclose(value, 0)
        np.testing.assert_allclose(again_weights[name], value, rtol=0, atol=1e-6)


def test_a_net_without_a_vgg_backbone_refuses_it(tmp_path):
    with pytest.raises(SettingsError, match="--recompute"):
        train(TrainConfig(model="unet", dataset="synthetic", data_dir=str(tmp_path / "data"),
                          recompute=True, max_steps=1, run_dir=str(tmp_path / "run")))
