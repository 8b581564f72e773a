"""The command line as a whole: discovery of every sub-command, errors without tracebacks."""
import numpy as np
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
