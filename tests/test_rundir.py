"""Run directories: the versioned record, old records, finding and resolving checkpoints."""
import json
import os

import pytest

from fcn_graph.convention import REFERENCE_BGR_MEAN, InputConvention
from fcn_graph.errors import CheckpointError
from fcn_graph.models import ModelSpec
from fcn_graph.rundir import (CONFIG_FILE, RunRecord, find_run_dir, load_record,
                              resolve_checkpoint, write_record)

# What `fcn-graph train` wrote before records carried a version.
V1_RECORD = {
    "model": "fcn8s", "num_classes": 6, "backbone": "vgg16", "geometry": "same", "width": 0.25,
    "learn_upsampling": False, "dropout_rate": 0.5, "dataset": "synthetic",
    "dataset_options": {}, "crop_size": 96, "batch_size": 4, "max_steps": 600, "seed": 12,
    "class_names": ["sky", "building", "road", "vegetation", "vehicle", "person"],
    "colors": [[70, 130, 180], [70, 70, 70], [128, 64, 128], [107, 142, 35], [0, 0, 142],
               [220, 20, 60]],
    "ignore_label": 255, "channel_order": "BGR", "mean": list(REFERENCE_BGR_MEAN),
    "model_options": {"backbone": "vgg16", "geometry": "same", "width": 0.25,
                      "learn_upsampling": False, "dropout_rate": 0.5},
}


def test_a_record_round_trips(tmp_path):
    record = RunRecord(model=ModelSpec("unet", 3, width=0.5), settings={"seed": 4},
                       class_names=("a", "b", "c"), colors=((1, 2, 3),) * 3, ignore_label=255)
    write_record(str(tmp_path), record)
    assert load_record(str(tmp_path)) == record
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["version"] == 2


def test_a_record_of_the_old_flat_layout_still_loads(tmp_path):
    (tmp_path / CONFIG_FILE).write_text(json.dumps(V1_RECORD))
    record = load_record(str(tmp_path))
    assert record.model == ModelSpec("fcn8s", 6, geometry="same", width=0.25,
                                     convention=InputConvention("BGR", REFERENCE_BGR_MEAN))
    assert record.settings["seed"] == 12 and "class_names" not in record.settings
    assert record.class_names[2] == "road" and record.colors[0] == (70, 130, 180)


def test_an_old_record_without_model_options_uses_the_builders_defaults(tmp_path):
    (tmp_path / CONFIG_FILE).write_text(json.dumps(
        {"model": "fcn32s", "num_classes": 2, "channel_order": "RGB", "mean": [1, 2, 3]}))
    spec = load_record(str(tmp_path)).model
    assert (spec.geometry, spec.width, spec.backbone) == ("caffe", 1.0, "vgg16")


def test_the_record_is_found_from_a_checkpoint_prefix(tmp_path):
    write_record(str(tmp_path), RunRecord(model=ModelSpec("fcn8s", 6)))
    (tmp_path / "checkpoints").mkdir()
    prefix = tmp_path / "checkpoints" / "model.ckpt-10"
    for path in (tmp_path, tmp_path / "checkpoints", prefix):
        assert find_run_dir(str(path)) == str(tmp_path)
    with pytest.raises(CheckpointError, match=CONFIG_FILE):
        load_record(str(tmp_path.parent / "elsewhere"))


def test_a_broken_record_names_the_file(tmp_path):
    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_record(str(tmp_path))
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"version": 2}))
    with pytest.raises(CheckpointError, match="not a run record"):
        load_record(str(tmp_path))


def test_resolving_a_checkpoint(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    prefix = os.path.join(run_dir, "checkpoints", "model.ckpt-1")
    assert resolve_checkpoint(run_dir) == prefix
    assert resolve_checkpoint(prefix) == prefix
    with pytest.raises(CheckpointError, match="no checkpoint"):
        resolve_checkpoint(str(tmp_path))
    with pytest.raises(CheckpointError, match="neither a run directory"):
        resolve_checkpoint(str(tmp_path / "model.ckpt-9"))
