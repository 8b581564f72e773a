"""Learning-rate policies, bias learning-rate multiplier, weight decay and gradient accumulation."""
import numpy as np
import pytest
import tensorflow as tf

from fcn_graph.layers import create_random_stream, register_decay
from fcn_graph.training import TrainConfig, resolve
from fcn_graph.training.optim import build_update

v1 = tf.compat.v1
W0 = np.array([1.0, -2.0, 0.5], np.float32)
B0 = np.array([0.25], np.float32)
BATCHES = np.array([[1.0, 2.0, 3.0], [-4.0, 0.5, 1.0], [2.0, 2.0, -1.0]], np.float32)


def linear_problem(config, batches=BATCHES):
    """loss = sum(w * x) + 3 b on an iterator of x: d/dw = x, d/db = 3, so updates are known."""
    global_step = v1.train.get_or_create_global_step()
    x = v1.data.make_one_shot_iterator(tf.data.Dataset.from_tensor_slices(batches)).get_next()
    with v1.variable_scope("layer"):
        w = v1.get_variable("weights", initializer=W0)
        b = v1.get_variable("biases", initializer=B0)
    register_decay(w)
    data_loss = tf.reduce_sum(w * x) + 3.0 * tf.reduce_sum(b)
    update = build_update(data_loss, config, global_step, create_random_stream())
    return update, w, b, global_step, data_loss


def sgd(**options):
    return resolve(TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, **options))


def test_sgd_biases_learn_twice_as_fast_and_weights_take_the_gradient():
    with tf.Graph().as_default(), v1.Session() as sess:
        update, w, b, step, _ = linear_problem(sgd(weight_decay=0.0))
        sess.run([v1.global_variables_initializer(), v1.local_variables_initializer()])
        sess.run(update.apply_op)
        w1, b1, s = sess.run([w, b, step])
    np.testing.assert_allclose(w1, W0 - 0.1 * BATCHES[0], rtol=1e-6)
    np.testing.assert_allclose(b1, B0 - 0.1 * 2.0 * 3.0, rtol=1e-6)
    assert s == 1


def test_weight_decay_is_caffe_l2_on_weights_only():
    with tf.Graph().as_default(), v1.Session() as sess:
        update, w, b, _, data_loss = linear_problem(sgd(weight_decay=5e-4))
        sess.run(v1.global_variables_initializer())
        # One run: both losses must see the same batch of the iterator.
        total, data = sess.run([update.total_loss, data_loss])
    assert total - data == pytest.approx(5e-4 * 0.5 * float(np.sum(W0 ** 2)), rel=1e-4)


def test_accumulation_applies_the_mean_gradient_once_per_update():
    with tf.Graph().as_default(), v1.Session() as sess:
        update, w, b, step, _ = linear_problem(sgd(weight_decay=0.0, accumulate=2))
        sess.run([v1.global_variables_initializer(), v1.local_variables_initializer()])
        sess.run(update.accumulate_op)
        sess.run(update.accumulate_op)
        assert sess.run(step) == 0
        np.testing.assert_array_equal(sess.run(w), W0)
        sess.run(update.apply_op)
        w1, b1, s = sess.run([w, b, step])
        accumulated = sess.run(v1.local_variables())
    np.testing.assert_allclose(w1, W0 - 0.1 * BATCHES[:2].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(b1, B0 - 0.1 * 2.0 * 3.0, rtol=1e-6)
    assert s == 1
    assert all(not np.any(a) for a in accumulated)


def test_accumulators_stay_out_of_checkpoints():
    with tf.Graph().as_default():
        linear_problem(sgd(accumulate=3))
        saved = {v.op.name for v in v1.global_variables()}
        assert not any("gradient_accumulators" in name for name in saved)
        assert {"layer/weights", "layer/biases", "global_step"} <= saved


def test_poly_policy_decays_to_zero_at_max_steps_and_fixed_stays():
    def rate_at(config, step_value):
        with tf.Graph().as_default(), v1.Session() as sess:
            update, _, _, step, _ = linear_problem(config)
            sess.run(v1.global_variables_initializer())
            step.load(step_value, sess)
            return sess.run(update.learning_rate)

    poly = resolve(TrainConfig(lr=1e-3, lr_policy="poly", lr_power=0.9, max_steps=100))
    assert rate_at(poly, 0) == pytest.approx(1e-3)
    assert rate_at(poly, 50) == pytest.approx(1e-3 * 0.5 ** 0.9, rel=1e-5)
    assert rate_at(poly, 100) == 0.0
    fixed = resolve(TrainConfig(lr=1e-3, lr_policy="fixed", max_steps=100))
    assert rate_at(fixed, 100) == pytest.approx(1e-3)


def ancestors(op):
    """Every op `op` waits for, through data and control inputs."""
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        for parent in [t.op for t in current.inputs] + list(current.control_inputs):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def test_accumulators_are_zeroed_only_after_the_update_read_them():
    with tf.Graph().as_default() as graph:
        update, *_ = linear_problem(sgd(weight_decay=0.0, accumulate=2))
        applies = [op for op in graph.get_operations() if op.type.startswith("ResourceApply")]
        zeroing = [op for op in graph.get_operations()
                   if op.type == "AssignVariableOp" and op.name.startswith("train/")
                   and "gradient_accumulators" in op.inputs[0].op.name
                   and op in ancestors(update.apply_op)]
    assert len(applies) == 2 and len(zeroing) == 2
    for op in zeroing:
        assert set(applies) <= ancestors(op), f"{op.name} may run before the update"


@pytest.mark.parametrize("accumulate", [1, 3])
def test_the_random_stream_advances_once_per_batch(accumulate):
    with tf.Graph().as_default(), v1.Session() as sess:
        update, _, _, step, _ = linear_problem(sgd(weight_decay=0.0, accumulate=accumulate))
        stream = next(v for v in v1.global_variables() if v.op.name == "random_stream")
        sess.run([v1.global_variables_initializer(), v1.local_variables_initializer()])
        for _ in range(accumulate):
            if update.accumulate_op is not None:
                sess.run(update.accumulate_op)
        sess.run(update.apply_op)
        assert sess.run(stream) == accumulate and sess.run(step) == 1
