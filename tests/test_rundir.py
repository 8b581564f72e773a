"""Run directories: the versioned record, old records, finding and resolving checkpoints."""
import json
import os

import numpy as np
import pytest

from fcn_graph.convention import REFERENCE_BGR_MEAN, InputConvention
from fcn_graph.errors import CheckpointError
from fcn_graph.evaluation import evaluate_run
from fcn_graph.export import export_run
from fcn_graph.inference import predict
from fcn_graph.models import ModelSpec
from fcn_graph.rundir import (CONFIG_FILE, RunRecord, find_run_dir, load_record,
                              resolve_checkpoint, write_record)
from fcn_graph.training import train

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
    assert record.model == ModelSpec("fcn8s", 6, geometry="same", width=0.25, dropout_rate=0.5,
                                     learn_upsampling=False,
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


def as_v1_layout(run_dir):
    """Rewrite a run's config.json the way runs were recorded before the versioned record."""
    record = load_record(run_dir)
    spec = record.model
    flat = dict(record.settings, model=spec.name, num_classes=spec.num_classes,
                backbone=spec.backbone, geometry=spec.geometry, width=spec.width,
                learn_upsampling=bool(spec.learn_upsampling),
                dropout_rate=0.5 if spec.dropout_rate is None else spec.dropout_rate,
                class_names=list(record.class_names),
                colors=[list(c) for c in record.colors], ignore_label=record.ignore_label,
                channel_order=spec.convention.channel_order, mean=list(spec.convention.mean))
    flat["model_options"] = {k: flat[k] for k in ("backbone", "geometry", "width",
                                                  "learn_upsampling", "dropout_rate")}
    with open(os.path.join(run_dir, CONFIG_FILE), "w") as f:
        json.dump(flat, f)


def test_a_run_recorded_in_the_old_layout_evaluates_infers_exports_and_resumes(tmp_path):
    run_dir = str(tmp_path / "run")
    settings = dict(model="fcn16s", geometry="same", width=1 / 16, dataset="synthetic",
                    data_dir=str(tmp_path / "data"),
                    dataset_options={"size": (24, 32), "num_train": 2, "num_val": 1},
                    crop_size=None, batch_size=1, max_steps=1, seed=0, run_dir=run_dir)
    first = train(settings)
    first["spec"] = load_record(run_dir).model
    as_v1_layout(run_dir)
    assert "version" not in json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    scores = evaluate_run(run_dir)
    assert scores["num_images"] == 1
    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    labels = predict(run_dir, image)[0]
    assert labels.shape == (24, 32)
    export_run(run_dir, str(tmp_path / "export"))
    resumed = train({"resume": True, "run_dir": run_dir, "max_steps": 2})
    assert resumed["step"] == 2 and resumed["config"].seed == first["config"].seed
    resumed_spec, first_spec = load_record(run_dir).model, first["spec"]
    for field in ("name", "num_classes", "geometry", "width", "backbone", "convention"):
        assert getattr(resumed_spec, field) == getattr(first_spec, field), field
    assert json.loads((tmp_path / "run" / CONFIG_FILE).read_text())["version"] == 2
