"""Whether the training session compiles its graph with XLA: on, off, or auto by measurement.

XLA's auto-clustering helps some graphs and hurts others on the same CPU.
Measured on 2 cores: the README's main job (width 0.25, 128 px) took 73
against 99 ms per update with it in float32, but 51 against 49 in
bfloat16; the full-width FCN-8s step lost (8.8 against 7.1 s at
500x500, 3.4 against 3.2 s at 224x224). So `auto` (the default) times the
run's own graph both ways before training: a few updates after warm-up
(which holds the compilation) in a session of each kind, on the run's
freshly initialised variables and its input pipeline, which belong to the
trial sessions alone; the run then starts from scratch in a session of the
faster kind, and the log says which and why. Runs too short to repay the
trial, and tasks of a cluster (whose sessions live on the servers), keep
XLA off without timing.
"""
import tensorflow as tf

from fcn_graph.bench.measure import time_calls

TRIAL_WARMUP = 3
TRIAL_STEPS = 5
# A trial costs 2 x (warm-up + timed) updates and a compilation: below this
# many updates to go, the run itself is shorter than what it could save.
MIN_STEPS_FOR_TRIAL = 20 * (TRIAL_WARMUP + TRIAL_STEPS)


def xla_mode(value):
    """'auto', 'on' or 'off'; a run recorded before the choice existed stored true or false."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def choose_xla(mode, graph, session_config, initializers, update, steps_to_go, alone, log,
               deterministic=False):
    """True when the run's session should compile with XLA.

    `session_config(jit)` is the ConfigProto of a session with or without
    XLA, `initializers` the op that initialises every variable,
    `update(session)` one training update, `steps_to_go` the updates the run
    has left, `alone` false for a task of a cluster; `log` gets the verdict. A
    `deterministic` run keeps XLA off under auto: a choice by timing could differ from
    run to run, and so could the numbers.
    """
    mode = xla_mode(mode)
    if mode != "auto":
        return mode == "on"
    if deterministic:
        log("XLA off: --xla auto does not choose by timing for a --deterministic run (use "
            "--xla on to compile)")
        return False
    if not alone:
        log("XLA off: --xla auto does not time a cluster task's session (use --xla on to "
            "compile)")
        return False
    if steps_to_go < MIN_STEPS_FOR_TRIAL:
        log(f"XLA off: --xla auto times {TRIAL_WARMUP + TRIAL_STEPS} updates each way only for "
            f"runs of {MIN_STEPS_FOR_TRIAL} updates or more ({steps_to_go} to go)")
        return False
    seconds = {jit: trial_update_seconds(graph, session_config(jit), initializers, update)
               for jit in (False, True)}
    chosen = seconds[True] < seconds[False]
    log(f"XLA {'on' if chosen else 'off'} (--xla auto): {1000 * seconds[True]:.0f} ms per "
        f"update compiled, {1000 * seconds[False]:.0f} ms plain (median of {TRIAL_STEPS} after "
        f"{TRIAL_WARMUP} warm-up on this run's graph)")
    return chosen


def trial_update_seconds(graph, config, initializers, update):
    """Median seconds per update in a throw-away session of `config`."""
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        session.run(initializers)
        median, _ = time_calls(lambda: update(session), TRIAL_STEPS, TRIAL_WARMUP)
    return median
