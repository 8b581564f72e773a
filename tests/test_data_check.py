import os

import numpy as np
from PIL import Image

import data_fixtures as fx
from fcn_graph.cli import main
from fcn_graph.data import get_dataset
from fcn_graph.data.check import check_dataset


def test_clean_dataset_passes_with_frequencies_and_overlays(tmp_path, capsys):
    data = fx.write_ade20k(str(tmp_path / "ade"))
    assert main(["data", "check", "--dataset", "ade20k", "--data-dir", data, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "ade20k/train: 1 examples, 0 problems" in out
    assert "wall" in out and "37.5000%" in out  # 3 of 8 columns
    assert os.path.isfile(tmp_path / "o" / "train" / "ADE_train_00000001_overlay.png")


def test_every_kind_of_problem_is_reported_with_its_file(tmp_path, capsys):
    data = fx.write_folder(str(tmp_path), colour_labels=True)
    (image0, label0, _), (image1, label1, _) = get_dataset("folder", data).examples("train")
    os.remove(label0)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(label1)  # size mismatch
    val_image, val_label, _ = get_dataset("folder", data).examples("val")[0]
    with open(val_image, "wb") as f:
        f.write(b"garbage")
    assert main(["data", "check", "--dataset", "folder", "--data-dir", data]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM {label0}: label missing" in out
    assert f"PROBLEM {label1}: label is 2x2 but its image" in out
    assert f"PROBLEM {val_image}: image unreadable" in out


def test_unknown_colours_and_out_of_range_ids_are_problems(tmp_path):
    data = fx.write_folder(str(tmp_path / "colour"), colour_labels=True)
    source = get_dataset("folder", data)
    label = source.examples("train")[0][1]
    Image.fromarray(np.full((fx.HEIGHT, fx.WIDTH, 3), 9, np.uint8)).save(label)
    [(path, problem)] = check_dataset(source, "train").problems
    assert path == label and "unknown colours (9, 9, 9)" in problem
    data = fx.write_folder(str(tmp_path / "index"))
    source = get_dataset("folder", data)
    label = source.examples("val")[0][1]
    Image.fromarray(np.full((fx.HEIGHT, fx.WIDTH), 7, np.uint8)).save(label)
    [(path, problem)] = check_dataset(source, "val").problems
    assert path == label and "values 7 outside classes 0..2" in problem


def test_cli_reports_layout_errors_without_a_traceback(tmp_path, capsys):
    assert main(["data", "check", "--dataset", "cityscapes", "--data-dir", str(tmp_path)]) == 1
    assert "leftImg8bit/train not found" in capsys.readouterr().err


def test_list_generate_and_to_tfrecord_commands(tmp_path, capsys):
    assert main(["data", "list"]) == 0
    assert "synthetic" in capsys.readouterr().out
    out_dir = str(tmp_path / "syn")
    assert main(["data", "generate", "--data-dir", out_dir, "--size", "24x16", "--num-train", "3",
                 "--num-val", "1"]) == 0
    assert Image.open(os.path.join(out_dir, "train", "images", "train_000002.png")).size == (24, 16)
    assert main(["data", "to-tfrecord", "--dataset", "synthetic", "--data-dir", out_dir, "--option", "size=24x16",
                 "--option", "num_train=3", "--option", "num_val=1", "--out-dir", str(tmp_path / "rec")]) == 0
    assert sorted(os.listdir(tmp_path / "rec")) == ["train-00000-of-00001.tfrecord", "val-00000-of-00001.tfrecord"]


def test_generate_names_a_malformed_size(tmp_path, capsys):
    assert main(["data", "generate", "--data-dir", str(tmp_path), "--size", "abc"]) == 2
    assert "--size 'abc' is not WIDTHxHEIGHT" in capsys.readouterr().err
