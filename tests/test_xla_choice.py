"""`--xla auto|on|off`: forced modes, a trial timed both ways, and when no trial is run."""
import pytest
import tensorflow as tf

from fcn_graph.training import xla_choice
from fcn_graph.training.config import resolve
from fcn_graph.training.xla_choice import MIN_STEPS_FOR_TRIAL, choose_xla, xla_mode

v1 = tf.compat.v1


def small_graph():
    graph = tf.Graph()
    with graph.as_default():
        weight = v1.get_variable("w", [64, 64])
        update = v1.train.GradientDescentOptimizer(0.01).minimize(
            tf.reduce_sum(tf.matmul(tf.ones([8, 64]), weight)))
        initializers = v1.global_variables_initializer()
    graph.finalize()
    return graph, initializers, update


def config_of(jit):
    proto = v1.ConfigProto()
    if jit:
        proto.graph_options.optimizer_options.global_jit_level = v1.OptimizerOptions.ON_1
    return proto


def test_forced_modes_and_recorded_booleans_need_no_trial():
    logged = []
    for mode, expected in (("on", True), ("off", False), (True, True), (False, False)):
        assert choose_xla(mode, None, None, None, None, 10 ** 6, True, logged.append) \
            is expected
    assert logged == []
    assert xla_mode(True) == "on" and xla_mode("auto") == "auto"


def test_auto_times_both_kinds_and_says_which_it_keeps(monkeypatch):
    graph, initializers, update = small_graph()
    sessions = []
    monkeypatch.setattr(xla_choice, "trial_update_seconds",
                        lambda g, config, init, step: sessions.append(config) or
                        (0.2 if config.graph_options.optimizer_options.global_jit_level else 0.3))
    logged = []
    assert choose_xla("auto", graph, config_of, initializers, lambda s: s.run(update),
                      MIN_STEPS_FOR_TRIAL, True, logged.append) is True
    assert len(sessions) == 2
    assert logged and logged[0].startswith("XLA on (--xla auto): 200 ms per update compiled, "
                                           "300 ms plain")


def test_a_trial_runs_real_updates_in_throw_away_sessions():
    graph, initializers, update = small_graph()
    runs = []

    def step(session):
        runs.append(session)
        session.run(update)

    seconds = xla_choice.trial_update_seconds(graph, config_of(False), initializers, step)
    assert seconds > 0
    assert len(runs) == xla_choice.TRIAL_WARMUP + xla_choice.TRIAL_STEPS
    with pytest.raises(RuntimeError, match="closed"):
        runs[0].run(update)


def test_short_runs_and_cluster_tasks_keep_xla_off_without_timing():
    logged = []
    assert choose_xla("auto", None, None, None, None, MIN_STEPS_FOR_TRIAL - 1, True,
                      logged.append) is False
    assert choose_xla("auto", None, None, None, None, 10 ** 6, False, logged.append) is False
    assert "only for runs of" in logged[0] and "cluster" in logged[1]


def test_the_setting_defaults_to_auto_and_checks_its_mode():
    assert resolve({}).xla == "auto"
    assert resolve({"xla": False}).xla is False  # a run recorded before the modes
    with pytest.raises(ValueError, match="auto, on or off"):
        resolve({"xla": "sometimes"})


def test_a_deterministic_run_does_not_choose_by_timing():
    said = []

    def never(*args):
        raise AssertionError("a deterministic run must not time anything")

    assert choose_xla("auto", None, never, None, never, 10_000, True, said.append,
                      deterministic=True) is False
    assert "--deterministic" in said[0]
    assert choose_xla("on", None, never, None, never, 10_000, True, said.append,
                      deterministic=True) is True
