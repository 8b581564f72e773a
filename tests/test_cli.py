"""The command line as a whole: discovery of every sub-command, errors without tracebacks, a
quiet start."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fcn_graph.cli import build_parser, main


def test_every_command_is_discovered():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"bench", "data", "demo", "eval", "export", "infer", "train", "weights"} <= set(commands)


def test_bad_input_gives_one_line_error_and_exit_1(tmp_path, capsys):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "photo.png")
    code = main(["infer", "--checkpoint", str(tmp_path / "missing-run"), str(tmp_path / "photo.png"),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "error:" in err and "missing-run" in err and "Traceback" not in err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


# What TensorFlow's native libraries print while they load.
START_UP_LINES = ("absl::InitializeLog", "oneDNN", "I0000")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(args, pythonpath=None):
    """`python ARGS` in a fresh interpreter, without the test run's log-level setting."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, ROOT])
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def start_up_lines(text):
    return [line for line in text.splitlines() if any(mark in line for mark in START_UP_LINES)]


def test_commands_start_without_tensorflows_start_up_lines():
    for args in (["--help"], ["data", "list"]):
        done = python(["-m", "fcn_graph.cli", *args])
        assert done.returncode == 0, done.stderr
        assert not start_up_lines(done.stdout + done.stderr), args
    assert "synthetic" in done.stdout


def test_verbose_shows_them():
    if not start_up_lines(python(["-c", "import tensorflow"]).stderr):
        pytest.skip("this TensorFlow prints no start-up lines")
    done = python(["-m", "fcn_graph.cli", "--verbose", "data", "list"])
    assert done.returncode == 0
    assert start_up_lines(done.stderr)


def test_an_error_while_tensorflow_loads_is_shown_with_what_it_printed(tmp_path):
    broken = tmp_path / "tensorflow"
    broken.mkdir()
    (broken / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'loader: libtensorflow_cc.so.2 not found\\n')\n"
        "raise ImportError('libtensorflow_framework.so.2: cannot open shared object file')\n")
    done = python(["-m", "fcn_graph.cli", "data", "list"], pythonpath=str(tmp_path))
    assert done.returncode != 0
    assert "loader: libtensorflow_cc.so.2 not found" in done.stderr
    assert "ImportError: libtensorflow_framework.so.2" in done.stderr
    # A module entry that blocks the import (startup then captures nothing) fails as loudly.
    done = python(["-c", "import sys; sys.modules['tensorflow'] = None; import fcn_graph.startup"])
    assert done.returncode != 0 and "import of tensorflow halted" in done.stderr
