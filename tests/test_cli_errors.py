"""Every sub-command: a user's error is one line naming the command, exit 1; usage errors 2.

Only `FcnGraphError` is caught; anything else is a bug and keeps its traceback.
"""
import numpy as np
import pytest
from PIL import Image

from fcn_graph import cli
from fcn_graph.errors import FcnGraphError


def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


@pytest.mark.parametrize("argv, named", [
    (["train", "--dataset", "nosuch"], "nosuch"),
    (["train", "--resume", "--run-dir", "{tmp}/never-trained"], "never-trained"),
    (["eval", "--checkpoint", "{tmp}/missing-run"], "missing-run"),
    (["infer", "--checkpoint", "{tmp}/missing-run", "{photo}", "--out", "{tmp}/out"],
     "missing-run"),
    (["export", "--checkpoint", "{tmp}/missing-run", "--out", "{tmp}/export"], "missing-run"),
    (["data", "check", "--dataset", "voc2012", "--data-dir", "{tmp}/no-voc"], "no-voc"),
    (["weights", "inspect", "{tmp}/missing.caffemodel"], "missing.caffemodel"),
    (["demo", "upsample", "{tmp}/missing.png", "2", "{tmp}/big.png"], "missing.png"),
    (["kernel", "check", "{tmp}/missing_module.py:kernel"], "missing_module.py"),
])
def test_each_command_reports_a_user_error_in_one_line(argv, named, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, photo=photo(tmp_path)) for a in argv]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"fcn-graph {argv[0]}: error: ") and named in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["train", "--width", "0"], ["bench", "--size", "0"],
                                  ["eval"], ["train", "--lr", "fast"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_a_bug_is_not_disguised_as_a_user_error(monkeypatch):
    def broken(args):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(cli.data, "run_list", broken)
    with pytest.raises(ValueError, match="internal"):
        cli.main(["data", "list"])
    assert not issubclass(ValueError, FcnGraphError)
