"""Fault injection: `fcn-graph train` killed with SIGKILL at random moments, once in the middle
of a checkpoint save, and resumed each time, ends with the weights of a run never interrupted."""
import os
import random
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from fcn_graph.data import get_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12
# Names of the files a save writes before its checkpoint is complete.
SAVE_IN_PROGRESS = ("_temp", ".tempstate")


def train_flags(data_dir, run_dir):
    # Tiny, and without XLA: the run's start-up is most of the test's time.
    return ["train", "--model", "fcn32s", "--xla", "off", "--data-dir", data_dir,
            "--dataset-option", "size=32x32", "--dataset-option", "num_train=4",
            "--dataset-option", "num_val=1", "--width", "0.0625", "--dropout-rate", "0.5",
            "--crop-size", "none", "--batch-size", "2", "--eval-images", "1",
            "--eval-every", "1000", "--seed", "5", "--deterministic", "--save-every", "1",
            "--max-steps", str(STEPS), "--log-every", "1",
            "--run-dir", run_dir]


def start(flags, resume):
    return subprocess.Popen([sys.executable, "-m", "fcn_graph.cli", *flags,
                             *(["--resume"] if resume else [])],
                            cwd=ROOT, text=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_for_step(process, at_least):
    """Read the progress lines until one reports step `at_least` or later.

    Returns the lines and the seconds between the last two step lines read (a step and its
    save), so that a kill can land at a random moment within one step on any machine.
    """
    lines, arrivals = [], []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("step "):
            arrivals.append(time.monotonic())
            if int(line.split()[1].split("/")[0]) >= at_least and len(arrivals) > 1:
                return lines, arrivals[-1] - arrivals[-2]
    raise AssertionError(f"the run ended before step {at_least}:\n" + "".join(lines))


def kill_during_a_save(process, checkpoints):
    """SIGKILL as soon as a save's temporary files appear."""
    while process.poll() is None:
        if any(marker in name for name in os.listdir(checkpoints) for marker in SAVE_IN_PROGRESS):
            process.kill()
            return
        time.sleep(0.0005)
    raise AssertionError("the run ended before it was killed during a save")


def killed(process):
    process.kill()
    process.wait(timeout=60)
    process.stderr.close()


def resumed_step(lines):
    return next(int(line.split(" at step ")[1]) for line in lines if line.startswith("resumed"))


def test_killed_repeatedly_and_resumed_it_ends_with_the_uninterrupted_weights(
        tmp_path, run_command):
    data_dir, run_dir = str(tmp_path / "data"), str(tmp_path / "killed")
    checkpoints = os.path.join(run_dir, "checkpoints")
    get_dataset("synthetic", data_dir, size=(32, 32), num_train=4, num_val=1)
    seed = random.randrange(2 ** 32)
    rng = random.Random(seed)
    note = f"(moments drawn with random.Random({seed}))"

    # Each kill comes within a step of the second step line a process prints, so three kills
    # leave at least three of the STEPS for the last run however fast the machine is.
    first = start(train_flags(data_dir, run_dir), resume=False)
    _, step_time = wait_for_step(first, 2)
    time.sleep(rng.uniform(0, step_time))
    killed(first)
    reached = []
    for kill_in_save in (True, False):
        process = start(train_flags(data_dir, run_dir), resume=True)
        lines, step_time = wait_for_step(process, 1)
        reached.append(resumed_step(lines))
        if kill_in_save:
            kill_during_a_save(process, checkpoints)
        else:
            time.sleep(rng.uniform(0, step_time))
        killed(process)
    last = start(train_flags(data_dir, run_dir), resume=True)
    output = last.communicate(timeout=300)[1]
    assert last.returncode == 0, output + note
    assert all(step >= 1 for step in reached), (reached, note)

    assert run_command(train_flags(data_dir, str(tmp_path / "straight"))) == 0
    final = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", f"model.ckpt-{STEPS}"))
    reference = tf.train.load_checkpoint(
        os.path.join(tmp_path, "straight", "checkpoints", f"model.ckpt-{STEPS}"))
    names = reference.get_variable_to_shape_map()
    assert final.get_variable_to_shape_map() == names
    for name in names:
        np.testing.assert_array_equal(final.get_tensor(name), reference.get_tensor(name),
                                      err_msg=f"{name} {note}")
    assert not [name for name in os.listdir(checkpoints)
                if any(marker in name for marker in SAVE_IN_PROGRESS)]
