"""Mixed precision: every precision builds and trains with float32 variables; float16 scales
its loss dynamically and skips updates whose gradients overflow."""
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fcn_graph import layers
from fcn_graph.errors import SettingsError
from fcn_graph.models import ModelSpec, build, model_names
from fcn_graph.precision import PRECISIONS
from fcn_graph.rundir import latest_checkpoint, load_record
from fcn_graph.training import train
from fcn_graph.training.optim import INITIAL_LOSS_SCALE, LossScaledOptimizer

v1 = tf.compat.v1


def built(spec, images, training=True, random_stream=None):
    net = build(spec, tf.constant(images), is_training=tf.constant(training),
                random_stream=random_stream)
    return net.logits


@pytest.mark.parametrize("model", model_names())
def test_every_precision_computes_low_and_keeps_float32_variables(model):
    images = np.random.default_rng(0).uniform(0, 255, (1, 40, 40, 3)).astype(np.float32)
    for precision, dtype in PRECISIONS.items():
        graph = tf.Graph()
        with graph.as_default():
            spec = ModelSpec(name=model, num_classes=3, width=1 / 16, precision=precision)
            logits = built(spec, images)
            assert logits.dtype == tf.float32
            assert {v.dtype.base_dtype for v in v1.global_variables()} == {tf.float32}
            convolutions = [op for op in graph.get_operations()
                            if op.type in ("Conv2D", "MatMul", "Conv2DBackpropInput")]
            assert convolutions and all(op.outputs[0].dtype == dtype for op in convolutions)
            # Decay applies to the float32 variables, whatever the layers read.
            assert all(isinstance(w, tf.Variable)
                       for w in v1.get_collection(layers.DECAY_COLLECTION))


def test_low_precision_logits_stay_close_to_float32():
    images = np.random.default_rng(1).uniform(0, 255, (1, 36, 36, 3)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        outputs = {}
        for precision in PRECISIONS:
            spec = ModelSpec(name="fcn8s", num_classes=3, width=1 / 16, precision=precision)
            with v1.variable_scope(v1.get_variable_scope(), reuse=v1.AUTO_REUSE):
                outputs[precision] = built(spec.for_inference(), images, training=False)
        # Random (not zero) score layers, so that the logits mean something.
        randomise = [v.assign(tf.random.normal(v.shape, stddev=0.05, seed=3))
                     for v in v1.global_variables() if "score" in v.op.name]
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(randomise)
            values = session.run(outputs)
    scale = np.abs(values["float32"]).max()
    assert scale > 0
    for precision in ("bfloat16", "mixed_float16"):
        difference = np.abs(values[precision] - values["float32"]).max()
        assert 0 < difference < 0.05 * scale


def dropped_units(dtype):
    """Where dropout (rate 0.5, first draw of a random stream) zeroes a tensor of ones."""
    with tf.Graph().as_default():
        stream = layers.create_random_stream()
        kept = layers.dropout(tf.ones([4, 8, 8, 16], dtype), 0.5, tf.constant(True), "drop7",
                              stream)
        assert kept.dtype == dtype and stream.dtype.base_dtype == tf.int64
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            return session.run(tf.cast(kept, tf.float32)) == 0


def test_dropout_drops_the_same_units_in_every_precision():
    reference = dropped_units(tf.float32)
    assert 0.3 < reference.mean() < 0.7
    for dtype in (tf.bfloat16, tf.float16):
        np.testing.assert_array_equal(dropped_units(dtype), reference)


def test_batch_norm_keeps_float32_parameters_and_statistics():
    x = np.random.default_rng(2).normal(3.0, 2.0, (2, 8, 8, 4)).astype(np.float32)
    with tf.Graph().as_default():
        y = layers.batch_normalization(tf.cast(x, tf.bfloat16), "BatchNorm", tf.constant(True))
        assert y.dtype == tf.bfloat16
        assert {v.dtype.base_dtype for v in v1.global_variables()} == {tf.float32}
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(v1.get_collection(v1.GraphKeys.UPDATE_OPS))
            mean = session.run(v1.global_variables("BatchNorm/moving_mean")[0])
    # One update at momentum 0.99 moves the zero average 1% of the way to the batch mean.
    np.testing.assert_allclose(mean, 0.01 * x.mean(axis=(0, 1, 2)), rtol=0.02)


def test_unknown_precision_is_refused():
    with pytest.raises(SettingsError, match="precision"):
        ModelSpec(name="fcn8s", num_classes=3, precision="float8")


def test_spec_records_its_precision_and_old_records_read_as_float32():
    spec = ModelSpec(name="fcn8s", num_classes=3, precision="bfloat16")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    record = spec.to_dict()
    del record["precision"]
    assert ModelSpec.from_dict(record).precision == "float32"
    assert spec.for_inference().precision == "bfloat16"


def test_loss_scaling_skips_overflowing_updates_and_halves_the_scale():
    with tf.Graph().as_default():
        step = v1.train.get_or_create_global_step()
        weight = v1.get_variable("w", [], initializer=v1.constant_initializer(1.0))
        optimizer = LossScaledOptimizer(v1.train.GradientDescentOptimizer(0.1))
        huge = v1.placeholder_with_default(False, [])
        # float16 overflows at 65504: the scaled gradient of a big loss does.
        factor = tf.cast(tf.where(huge, 1e3, 1e-3), tf.float16)
        loss = tf.cast(tf.cast(weight, tf.float16) * factor, tf.float32)
        update = optimizer.apply_gradients(optimizer.compute_gradients(loss), step)
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(update, {huge: True})
            skipped = session.run([weight, optimizer.scale, optimizer.skipped_updates, step])
            session.run(update)
            applied = session.run([weight, optimizer.scale, optimizer.skipped_updates, step])
    assert skipped == [1.0, INITIAL_LOSS_SCALE / 2, 1, 1]
    # The small gradient, unscaled again: 1 - 0.1 * 1e-3.
    assert applied[0] == pytest.approx(1 - 1e-4, rel=1e-3)
    assert applied[1:] == [INITIAL_LOSS_SCALE / 2, 1, 2]


@pytest.mark.parametrize("precision", list(PRECISIONS))
def test_training_in_each_precision(precision, tmp_path):
    result = train({"model": "fcn8s", "width": 1 / 16, "precision": precision,
                    "dataset": "synthetic", "data_dir": str(tmp_path / "data"),
                    "dataset_options": {"size": (32, 32), "num_train": 4, "num_val": 2},
                    "crop_size": None, "batch_size": 2, "max_steps": 3, "eval_every": 3,
                    "save_every": 3, "run_dir": str(tmp_path / "run"), "seed": 1,
                    "image_summaries": 0, "summary_every": 1})
    assert np.isfinite(result["loss"]) and np.isfinite(result["validation"]["mean_iu"])
    assert load_record(str(tmp_path / "run")).model.precision == precision
    reader = tf.train.load_checkpoint(latest_checkpoint(str(tmp_path / "run" / "checkpoints")))
    dtypes = reader.get_variable_to_dtype_map()
    assert {dtypes[name] for name in dtypes if "/weights" in name} == {tf.float32}
    assert ("loss_scale/scale" in dtypes) == (precision == "mixed_float16")
    # TensorBoard follows the loss scale and the updates it skipped, step by step.
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"scalars": 0}).Reload()
    scaled = precision == "mixed_float16"
    assert ("train/loss_scale" in events.Tags()["scalars"]) == scaled
    if scaled:
        scales = [(e.step, e.value) for e in events.Scalars("train/loss_scale")]
        skipped = [e.value for e in events.Scalars("train/skipped_updates")]
        assert [step for step, _ in scales] == [1, 2, 3]
        # Each skipped update halved the scale, and nothing else moves it in 3 steps.
        assert [value for _, value in scales] == [INITIAL_LOSS_SCALE / 2 ** n for n in skipped]
        assert skipped == sorted(skipped) and skipped[-1] == reader.get_tensor(
            "loss_scale/skipped_updates")
