"""`fcn-graph train --dataset NAME` on every source's real-layout fixture."""
import os

import pytest

import data_fixtures
from fcn_graph.cli import main
from fcn_graph.rundir import load_record

SOURCES = [
    # (dataset, fixture writer, the data dir below the fixture root, classes)
    ("voc2012", data_fixtures.write_voc, "", 21),
    ("sbd", data_fixtures.write_voc, "", 21),
    ("cityscapes", data_fixtures.write_cityscapes, "", 19),
    ("kitti", data_fixtures.write_kitti, "data_road", 2),
    ("ade20k", data_fixtures.write_ade20k, "ADEChallengeData2016", 150),
    ("folder", data_fixtures.write_folder, "", 3),
    ("synthetic", lambda root: root, "", 6),
]


@pytest.mark.parametrize("dataset,writer,below,classes", SOURCES, ids=[s[0] for s in SOURCES])
def test_train_command_runs_on_each_source(dataset, writer, below, classes, tmp_path, capsys):
    root = writer(str(tmp_path / "data"))
    data_dir = os.path.join(root, below) if below else root
    options = ["--dataset-option", "size=24x16", "--dataset-option", "num_train=4",
               "--dataset-option", "num_val=2"] if dataset == "synthetic" else []
    run_dir = tmp_path / "run"
    code = main(["train", "--dataset", dataset, "--data-dir", data_dir, *options,
                 "--width", "0.0625", "--crop-size", "16", "--batch-size", "2",
                 "--max-steps", "2", "--eval-images", "2", "--seed", "0",
                 "--run-dir", str(run_dir)])
    assert code == 0, capsys.readouterr().err
    record = load_record(str(run_dir))
    assert record.settings["dataset"] == dataset and record.num_classes == classes
    assert len(record.class_names) == classes
    assert os.path.isfile(run_dir / "checkpoints" / "checkpoint")
    printed = capsys.readouterr()
    assert "mean IU" in printed.out + printed.err
