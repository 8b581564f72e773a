"""What a run does when something goes wrong: damaged or missing checkpoints, a garbled state
file, a failed resume, bad training examples, a full disk, a run directory that is a file,
leftovers of killed saves; and the commands' refusals to overwrite."""
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fcn_graph.data import DataError
from fcn_graph.data.tfrecord import count_records
from fcn_graph.errors import CheckpointError, SettingsError, WeightsError
from fcn_graph.rundir import checkpoint_step, latest_checkpoint
from fcn_graph.training import TrainConfig, train
from fcn_graph.training.config import as_settings
from fcn_graph.training.loop import build_training_graph, prepare
from fcn_graph.training.summaries import png_bytes
from fcn_graph.weights.canonical import save_npz
from fcn_graph.weights.synthetic import random_weights

v1 = tf.compat.v1
WIDTH = 1 / 16
# A fixed learning rate lets runs of different lengths share their first steps.
SYNTHETIC = dict(dataset="synthetic", dataset_options={"size": (32, 32), "num_train": 4,
                                                       "num_val": 1})
COMMON = dict(model="fcn8s", width=WIDTH, geometry="same", dropout_rate=0.0, lr_policy="fixed",
              crop_size=None, batch_size=2, eval_every=1000, eval_images=1, seed=7,
              deterministic=True)
SYNTHETIC_FLAGS = ["--dataset-option", "size=32x32", "--dataset-option", "num_train=4",
                   "--dataset-option", "num_val=1", "--width", str(WIDTH), "--dropout-rate", "0",
                   "--lr-policy", "fixed", "--crop-size", "none", "--batch-size", "2",
                   "--eval-images", "1", "--seed", "7"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


def tiny(data_dir, run_dir, **overrides):
    return TrainConfig(**{**COMMON, **SYNTHETIC, "data_dir": data_dir, "run_dir": str(run_dir),
                          "max_steps": 6, "save_every": 2, **overrides})


def steps(result):
    return [step for step, _ in result["history"]]


def checkpoint_names(run_dir):
    return sorted(name for name in os.listdir(os.path.join(run_dir, "checkpoints"))
                  if name.startswith("model.ckpt"))


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def error_line(capsys, command):
    """The one line a failed command printed last; fails if a traceback was printed."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"fcn-graph {command}: error: "), err
    return last


# ---- resuming from what is really on disk

def test_resume_passes_over_a_latest_checkpoint_without_its_index(data_dir, tmp_path):
    straight = train(tiny(data_dir, tmp_path / "straight", max_steps=8))
    run_dir = tmp_path / "run"
    train(tiny(data_dir, run_dir))
    (run_dir / "checkpoints" / "model.ckpt-6.index").unlink()
    log = io.StringIO()
    tail = train(tiny(data_dir, run_dir, max_steps=8, resume=True), stream=log)
    assert re.search(r"skipped \S+model\.ckpt-6: model\.ckpt-6\.index is missing", log.getvalue())
    assert steps(tail) == [5, 6, 7, 8]
    assert tail["history"] == straight["history"][4:]
    assert checkpoint_names(run_dir)[-2:] == ["model.ckpt-8.data-00000-of-00001",
                                              "model.ckpt-8.index"]


def test_a_garbled_state_file_neither_restarts_the_run_nor_stops_the_resume(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    head = train(tiny(data_dir, run_dir, max_steps=4))
    (run_dir / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: {{{")
    before = checkpoint_names(run_dir)
    with pytest.raises(SettingsError, match=r"holds checkpoints \(newest \S+model\.ckpt-4\)"):
        train(tiny(data_dir, run_dir, max_steps=4))
    assert checkpoint_names(run_dir) == before
    tail = train(tiny(data_dir, run_dir, max_steps=6, resume=True))
    straight = train(tiny(data_dir, tmp_path / "straight"))
    assert steps(tail) == [5, 6]
    assert head["history"] + tail["history"] == straight["history"]
    assert latest_checkpoint(str(run_dir / "checkpoints")).endswith("model.ckpt-6")


def test_resume_refuses_when_no_checkpoint_reads_back(data_dir, tmp_path):
    with pytest.raises(CheckpointError, match="found no checkpoint"):
        train(tiny(data_dir, tmp_path / "empty", resume=True))
    run_dir = tmp_path / "run"
    train(tiny(data_dir, run_dir, max_steps=2, save_every=1))
    for step in (1, 2):
        truncate(run_dir / "checkpoints" / f"model.ckpt-{step}.data-00000-of-00001")
    with pytest.raises(CheckpointError, match=r"none of its checkpoints reads back completely "
                                              r"\(model\.ckpt-2: its files are truncated.*; "
                                              r"model\.ckpt-1: "):
        train(tiny(data_dir, run_dir, max_steps=3, resume=True))
    assert checkpoint_names(run_dir) == ["model.ckpt-1.data-00000-of-00001", "model.ckpt-1.index",
                                         "model.ckpt-2.data-00000-of-00001", "model.ckpt-2.index"]


# ---- a failed resume leaves the run as it was

def test_a_flag_contradicting_the_record_is_refused_and_the_record_kept(
        data_dir, tmp_path, run_command, capsys):
    run_dir = tmp_path / "run"
    train(tiny(data_dir, run_dir, max_steps=2))
    record = (run_dir / "config.json").read_bytes()
    code = run_command(["train", "--resume", "--run-dir", run_dir, "--width", "0.5"])
    assert code == 1
    line = error_line(capsys, "train")
    assert "--width 0.5" in line and str(WIDTH) in line
    assert (run_dir / "config.json").read_bytes() == record


def test_a_resume_that_cannot_restore_keeps_the_record_and_writes_nothing(data_dir, tmp_path):
    run_dir, wider = tmp_path / "run", tmp_path / "wider"
    train(tiny(data_dir, run_dir, max_steps=2))
    train(tiny(data_dir, wider, max_steps=2, width=2 * WIDTH))
    for name in checkpoint_names(wider):
        os.replace(wider / "checkpoints" / name, run_dir / "checkpoints" / name)
    record = (run_dir / "config.json").read_bytes()
    contents = sorted(os.listdir(run_dir))
    with pytest.raises(CheckpointError, match="does not match the network"):
        train(tiny(data_dir, run_dir, max_steps=3, resume=True, lr=0.5))
    assert (run_dir / "config.json").read_bytes() == record
    assert sorted(os.listdir(run_dir)) == contents


# ---- a truncated checkpoint

def test_a_truncated_latest_checkpoint_is_named_and_passed_over(
        data_dir, tmp_path, run_command, capsys):
    run_dir = tmp_path / "run"
    train(tiny(data_dir, run_dir))
    truncate(run_dir / "checkpoints" / "model.ckpt-6.data-00000-of-00001")
    image = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(image)
    for command, extra in (("eval", []), ("infer", [image, "--out", tmp_path / "labels"]),
                           ("export", ["--out", tmp_path / "exported"])):
        assert run_command([command, "--checkpoint", run_dir, *extra]) == 1
        line = error_line(capsys, command)
        assert re.search(r"model\.ckpt-6: its files are truncated or damaged", line), line
        assert "complete checkpoints in" in line and "model.ckpt-2, model.ckpt-4;" in line
    log = io.StringIO()
    resumed = train(tiny(data_dir, run_dir, max_steps=7, resume=True), stream=log)
    assert "model.ckpt-6: its files are truncated or damaged" in log.getvalue()
    assert steps(resumed) == [5, 6, 7]


# ---- user errors end `train` in one line

def test_a_diverging_run_ends_in_one_line_naming_the_step(data_dir, tmp_path, run_command, capsys):
    code = run_command(["train", "--data-dir", data_dir, *SYNTHETIC_FLAGS, "--optimizer", "sgd",
                        "--lr", "1e12", "--loss-normalize", "mean", "--max-steps", "30",
                        "--save-every", "1", "--run-dir", tmp_path / "run"])
    assert code == 1
    assert re.search(r"at step \d+", error_line(capsys, "train"))


def test_a_run_dir_that_is_a_file_is_refused_in_one_line(data_dir, tmp_path, run_command, capsys):
    not_a_directory = tmp_path / "notes.txt"
    not_a_directory.write_text("keep me")
    for run_dir in (not_a_directory, not_a_directory / "run"):
        code = run_command(["train", "--data-dir", data_dir, *SYNTHETIC_FLAGS, "--max-steps", "1",
                            "--run-dir", run_dir])
        assert code == 1
        assert f"{not_a_directory} is a file" in error_line(capsys, "train")
    assert not_a_directory.read_text() == "keep me"


def test_a_full_disk_during_a_save_is_one_line_naming_the_directory(
        data_dir, tmp_path, run_command, capsys, monkeypatch):
    def no_space(saver, sess, save_path, **options):
        # What Session.run raises for ENOSPC, with the hint it adds to every
        # ResourceExhaustedError.
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{save_path}_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
                        f"No space left on device\nHint: If you want to see a list of allocated "
                        f"tensors when OOM happens, add report_tensor_allocations_upon_oom to "
                        f"RunOptions for current allocation info.")

    monkeypatch.setattr(v1.train.Saver, "save", no_space)
    run_dir = tmp_path / "run"
    code = run_command(["train", "--data-dir", data_dir, *SYNTHETIC_FLAGS, "--max-steps", "2",
                        "--run-dir", run_dir])
    assert code == 1
    line = error_line(capsys, "train")
    assert f"to {run_dir / 'checkpoints'}: " in line and "No space left on device" in line
    assert "OOM" not in line


CLASSES = {"classes": ["background", "thing"], "colors": [[0, 0, 0], [255, 255, 255]]}


def folder_dataset(root, fault=None, num_train=5):
    """A two-class folder dataset of 32x32 images with colour labels; `fault` spoils the
    second training example: 'corrupt image', 'size mismatch' or 'unknown colour'.
    Returns (data dir, the spoilt file)."""
    rng = np.random.default_rng(0)
    root.mkdir()
    (root / "classes.json").write_text(json.dumps(CLASSES))
    spoilt = None
    for split, count in (("train", num_train), ("val", 1)):
        for folder in ("images", "labels"):
            (root / folder / split).mkdir(parents=True)
        for index in range(count):
            image = root / "images" / split / f"{index}.png"
            label = root / "labels" / split / f"{index}.png"
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
            colors = np.where(rng.random((32, 32, 1)) < 0.5, 0, 255).repeat(3, axis=2)
            if split == "train" and index == 1 and fault is not None:
                if fault == "corrupt image":
                    image.write_bytes(image.read_bytes()[:60])
                    spoilt = image
                elif fault == "size mismatch":
                    colors = colors[:24]
                    spoilt = label
                else:
                    colors[5, 5] = (10, 200, 30)
                    spoilt = label
            Image.fromarray(colors.astype(np.uint8)).save(label)
    return str(root), str(spoilt)


@pytest.mark.parametrize("fault", ["corrupt image", "size mismatch", "unknown colour"])
def test_a_bad_training_example_ends_train_in_one_line_naming_the_file(
        tmp_path, run_command, capsys, fault):
    data, spoilt = folder_dataset(tmp_path / "data", fault)
    code = run_command(["train", "--dataset", "folder", "--data-dir", data, "--width", str(WIDTH),
                        "--crop-size", "none", "--batch-size", "1", "--max-steps", "8",
                        "--eval-images", "1", "--seed", "3", "--run-dir", tmp_path / "run"])
    assert code == 1
    assert spoilt in error_line(capsys, "train")


def folder_config(data, run_dir, **overrides):
    return TrainConfig(**{**COMMON, "dataset": "folder", "data_dir": data, "crop_size": 32,
                          "run_dir": str(run_dir), "max_steps": 8, "save_every": 100,
                          **overrides})


def test_a_bad_image_stops_the_run_with_a_checkpoint_and_resume_can_skip_it(tmp_path):
    data, spoilt = folder_dataset(tmp_path / "data", "corrupt image")
    run_dir = tmp_path / "run"
    with pytest.raises(DataError, match=re.escape(spoilt)) as stopped:
        train(folder_config(data, run_dir))
    message = str(stopped.value)
    stopped_at = int(re.search(r"Stopped after step (\d+)", message).group(1))
    assert stopped_at >= 1 and "--skip-bad-examples" in message
    # The update before the bad batch was saved, though --save-every is far off.
    assert checkpoint_step(latest_checkpoint(str(run_dir / "checkpoints"))) == stopped_at

    log = io.StringIO()
    resumed = train(folder_config(data, run_dir, resume=True, skip_bad_examples=True),
                    stream=log)
    straight = train(folder_config(data, tmp_path / "straight", skip_bad_examples=True))
    assert f"skipped a training example: image unreadable: {spoilt}" in log.getvalue()
    assert steps(resumed) == list(range(stopped_at + 1, 9))
    # Exact: the skipped examples moved the data position, and the checkpoint recorded it.
    assert resumed["history"] == straight["history"][stopped_at:]
    assert straight["skipped_examples"] >= 2 and resumed["skipped_examples"] >= 1


def test_skipping_resumes_at_the_exact_data_position(tmp_path):
    data, _ = folder_dataset(tmp_path / "data", "size mismatch")
    straight = train(folder_config(data, tmp_path / "straight", skip_bad_examples=True))
    head = train(folder_config(data, tmp_path / "split", max_steps=5, skip_bad_examples=True))
    tail = train(folder_config(data, tmp_path / "split", resume=True))
    assert head["history"] + tail["history"] == straight["history"]
    assert tail["config"].skip_bad_examples


def test_skipping_reads_tfrecords_too(tmp_path):
    """Records of the plain image/mask schema, the second with a damaged image."""
    data, _ = folder_dataset(tmp_path / "data")
    rng = np.random.default_rng(1)
    pattern = str(tmp_path / "masks-*.tfrecord")
    for shard in range(2):
        with tf.io.TFRecordWriter(pattern.replace("*", str(shard))) as writer:
            for index in range(3):
                image = png_bytes(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
                if (shard, index) == (0, 1):
                    image = image[:60]
                mask = png_bytes(rng.integers(0, 2, (32, 32), dtype=np.uint8))
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
                    for key, value in (("image", image), ("mask", mask))})).SerializeToString())
    assert count_records(pattern) == 6
    log = io.StringIO()
    result = train(folder_config(data, tmp_path / "run", max_steps=3, tfrecords=pattern,
                                 skip_bad_examples=True), stream=log)
    assert f"skipped a training example: image unreadable: {pattern.replace('*', '0')}#1" \
        in log.getvalue()
    assert result["step"] == 3 and result["skipped_examples"] >= 1


def test_skipping_stops_when_every_example_is_bad(tmp_path):
    data, spoilt = folder_dataset(tmp_path / "data", "corrupt image", num_train=2)
    with open(spoilt, "rb") as f:
        (tmp_path / "data" / "images" / "train" / "0.png").write_bytes(f.read())
    with pytest.raises(DataError, match="in a row failed to read, so every example does"):
        train(folder_config(data, tmp_path / "run", batch_size=1, skip_bad_examples=True))


# ---- leftovers and starts

def test_leftovers_of_killed_saves_are_removed_on_the_next_start(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny(data_dir, run_dir, max_steps=2, save_every=1))
    checkpoints = run_dir / "checkpoints"
    leftovers = [checkpoints / "model.ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001"
                 ".tempstate5312", checkpoints / "model.ckpt-3.index.tempstate9127",
                 checkpoints / "checkpoint.tmp6c0f2a"]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.touch()
    log = io.StringIO()
    train(tiny(data_dir, run_dir, max_steps=3, save_every=1, resume=True), stream=log)
    assert not (checkpoints / "model.ckpt-3_temp").exists()
    assert not [path for path in leftovers if path.exists()]
    assert f"removed {checkpoints / 'model.ckpt-3_temp'}" in log.getvalue()


def test_a_failed_start_leaves_no_run_directory(data_dir, tmp_path):
    # Weights of a narrower network: refused when they are assigned, after the graph is built.
    weights = str(tmp_path / "vgg16.npz")
    save_npz(random_weights("vgg16", width=WIDTH, include_top=False), weights)
    run_dir = tmp_path / "run"
    with pytest.raises(WeightsError, match="shape"):
        train(tiny(data_dir, run_dir, weights=weights, width=2 * WIDTH))
    assert not run_dir.exists()


def test_init_from_a_run_directory_takes_its_newest_checkpoint(data_dir, tmp_path):
    first = tmp_path / "fcn32s"
    train(tiny(data_dir, first, model="fcn32s", max_steps=2, save_every=1))
    run = prepare(as_settings(tiny(data_dir, tmp_path / "fcn16s", model="fcn16s",
                                   init_from=str(first))))
    training = build_training_graph(run, 0)
    assert training.staged_init.checkpoint == str(first / "checkpoints" / "model.ckpt-2")
    assert "conv1_1/weights" in training.staged_init.taken


def test_vgg19_weights_for_a_vgg16_network_name_the_flag(data_dir, tmp_path, run_command, capsys):
    weights = str(tmp_path / "vgg19.npz")
    save_npz(random_weights("vgg19", width=WIDTH, include_top=False), weights)
    code = run_command(["train", "--data-dir", data_dir, *SYNTHETIC_FLAGS, "--weights", weights,
                        "--max-steps", "1", "--run-dir", tmp_path / "run"])
    assert code == 1
    assert "--backbone vgg19" in error_line(capsys, "train")


# ---- the commands never write over what they were not asked to

def test_infer_never_writes_over_outputs_or_inputs(tiny_run, tmp_path, run_command, capsys):
    run_dir, _ = tiny_run
    images = tmp_path / "images"
    images.mkdir()
    photo = images / "street.png"
    Image.fromarray(np.full((24, 32, 3), 120, np.uint8)).save(photo)
    out = tmp_path / "out"
    assert run_command(["infer", "--checkpoint", run_dir, photo, "--out", out]) == 0
    label = out / "street.png"
    os.utime(label, (0, 0))
    assert run_command(["infer", "--checkpoint", run_dir, photo, "--out", out]) == 1
    assert "already exists" in error_line(capsys, "infer")
    assert os.stat(label).st_mtime == 0
    assert run_command(["infer", "--checkpoint", run_dir, photo, "--out", out,
                        "--overwrite"]) == 0
    assert os.stat(label).st_mtime > 0
    # Into the input folder: the outputs take the input's full name, the input stays.
    original = photo.read_bytes()
    assert run_command(["infer", "--checkpoint", run_dir, images, "--out", images]) == 0
    assert photo.read_bytes() == original
    assert (images / "street.png.png").is_file() and (images / "street.png_overlay.png").is_file()


def test_eval_json_at_a_directory_is_refused(tiny_run, tmp_path, run_command, capsys):
    run_dir, _ = tiny_run
    assert run_command(["eval", "--checkpoint", run_dir, "--json", tmp_path]) == 1
    assert "is a directory" in error_line(capsys, "eval")
    assert os.listdir(tmp_path) == []
