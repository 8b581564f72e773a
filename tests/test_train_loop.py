"""The training loop end to end on tiny synthetic scenes: determinism, resume, signals,
TensorBoard events, the NaN guard and bad labels."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fcn_graph import cli
from fcn_graph.data import DataError, Dataset, register_dataset
from fcn_graph.data.colors import save_label_png
from fcn_graph.data import get_dataset
from fcn_graph.data.tfrecord import write_tfrecords
from fcn_graph.errors import SettingsError, TrainingError
from fcn_graph.rundir import checkpoint_step, latest_checkpoint, load_record
from fcn_graph.training import TrainConfig, train
from fcn_graph.training.config import as_settings
from fcn_graph.training.loop import build_training_graph, prepare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


def tiny(data_dir, run_dir, **overrides):
    """FCN-8s at width 1/8 on 48x48 scenes: a few seconds per run on one CPU.

    A fixed learning rate lets runs of different lengths share their first
    steps (the poly policy depends on max_steps); no dropout unless a test
    asks for it.
    """
    options = dict(model="fcn8s", width=0.125, geometry="same", dropout_rate=0.0,
                   lr_policy="fixed",
                   dataset="synthetic", data_dir=data_dir,
                   dataset_options={"size": (48, 48), "num_train": 6, "num_val": 2},
                   crop_size=None, batch_size=2, max_steps=6, save_every=3, eval_every=100,
                   eval_images=2, summary_every=1, seed=7, deterministic=True,
                   run_dir=str(run_dir))
    options.update(overrides)
    return TrainConfig(**options)


def losses(result):
    return [loss for _, loss in result["history"]]


def test_same_seed_gives_identical_losses_and_another_seed_does_not(data_dir, tmp_path):
    first = train(tiny(data_dir, tmp_path / "a", max_steps=4))
    second = train(tiny(data_dir, tmp_path / "b", max_steps=4))
    other = train(tiny(data_dir, tmp_path / "c", max_steps=4, seed=8))
    assert losses(first) == losses(second)
    assert losses(first) != losses(other)
    assert [s for s, _ in first["history"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("dropout_rate", [0.0, 0.5])
def test_resume_continues_step_slots_and_data_position(data_dir, tmp_path, dropout_rate):
    # With dropout, the masks come from the saved random stream, so they too continue.
    straight = train(tiny(data_dir, tmp_path / "straight", dropout_rate=dropout_rate))
    head = train(tiny(data_dir, tmp_path / "split", max_steps=4, save_every=2,
                      dropout_rate=dropout_rate))
    tail = train(tiny(data_dir, tmp_path / "split", resume=True, dropout_rate=dropout_rate))
    assert checkpoint_step(head["checkpoint"]) == 4
    assert [s for s, _ in tail["history"]] == [5, 6]
    assert losses(head) + losses(tail) == losses(straight)
    assert checkpoint_step(latest_checkpoint(str(tmp_path / "split" / "checkpoints"))) == 6


def test_a_run_directory_with_checkpoints_needs_resume(data_dir, tmp_path):
    train(tiny(data_dir, tmp_path, max_steps=1))
    with pytest.raises(SettingsError, match="--resume"):
        train(tiny(data_dir, tmp_path, max_steps=2))


def test_sigterm_saves_and_the_resumed_run_continues(data_dir, tmp_path):
    run_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "fcn_graph.cli", "train", "--data-dir", data_dir,
               "--dataset-option", "size=48x48", "--dataset-option", "num_train=6",
               "--dataset-option", "num_val=2", "--width", "0.125", "--dropout-rate", "0",
               "--lr-policy", "fixed", "--crop-size", "none", "--batch-size", "2",
               "--eval-images", "2", "--seed", "7", "--deterministic", "--max-steps", "10000",
               "--save-every", "10000", "--log-every", "1", "--run-dir", str(run_dir)]
    process = subprocess.Popen(command, cwd=ROOT, text=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    for line in process.stderr:
        if line.startswith("step 3/"):
            process.send_signal(signal.SIGTERM)
            break
    output = process.stderr.read()
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert "stopped by signal" in output
    stopped = checkpoint_step(latest_checkpoint(str(run_dir / "checkpoints")))
    assert stopped >= 3
    resumed = train(tiny(data_dir, run_dir, max_steps=stopped + 2, resume=True))
    straight = train(tiny(data_dir, tmp_path / "straight", max_steps=stopped + 2))
    assert resumed["history"] == straight["history"][stopped:]


def test_events_config_and_graph(data_dir, tmp_path):
    result = train(tiny(data_dir, tmp_path, max_steps=4, eval_every=2, histograms=True,
                        image_summaries=1))
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "images": 0}).Reload()
    tags = events.Tags()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    np.testing.assert_allclose([e.value for e in events.Scalars("train/loss")], losses(result),
                               rtol=1e-6)
    assert [e.step for e in events.Scalars("validation/mean_iu")] == [2, 4]
    assert events.Scalars("validation/mean_iu")[-1].value == pytest.approx(
        result["validation"]["mean_iu"], rel=1e-6)
    assert "train/learning_rate" in tags["scalars"]
    panel = events.Images("validation/input_truth_prediction/0")[-1]
    assert (panel.height, panel.width) == (48, 3 * 48)
    assert any(t.endswith("conv1_1/weights/gradient") for t in tags["histograms"])
    # No array worth storing is baked into the graph: weights live in checkpoints only.
    for node in events.Graph().node:
        if node.op == "Const":
            assert len(node.attr["value"].tensor.tensor_content) < 4096, node.name
    record = load_record(result["checkpoint"])
    assert record.num_classes == 6 and record.class_names[0] == "sky"
    assert record.model.convention.channel_order == "BGR" and len(record.model.convention.mean) == 3
    assert record.model.width == 0.125 and record.settings["max_steps"] == 4


def test_diverging_run_stops_and_keeps_only_finite_checkpoints(data_dir, tmp_path):
    config = tiny(data_dir, tmp_path, optimizer="sgd", lr=1e12, loss_normalize="mean",
                  max_steps=50, save_every=1)
    with pytest.raises(TrainingError, match=r"at step \d+.*learning rate is too high"):
        train(config)
    latest = latest_checkpoint(str(tmp_path / "checkpoints"))
    if latest is not None:
        reader = tf.train.load_checkpoint(latest)
        for name in reader.get_variable_to_shape_map():
            assert np.all(np.isfinite(reader.get_tensor(name))), name


class OutOfRangeLabels(Dataset):
    """Two classes, but every label file also holds the value 7."""
    class_names = ("background", "object")
    colors = ((0, 0, 0), (255, 255, 255))
    splits = ("train", "val")

    def examples(self, split):
        image, label = os.path.join(self.data_dir, "image.png"), os.path.join(self.data_dir, "label.png")
        Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(image)
        save_label_png(label, np.where(np.eye(32, dtype=bool), 7, 1), self.colors)
        return [(image, label, "only")]

    def read_label(self, path):
        return np.asarray(Image.open(path))


def test_labels_out_of_range_stop_with_a_clear_error(tmp_path):
    register_dataset("test_out_of_range_labels")(OutOfRangeLabels)  # undone after the test
    config = TrainConfig(dataset="test_out_of_range_labels", data_dir=str(tmp_path), width=0.125,
                         crop_size=None, batch_size=1, max_steps=2, run_dir=str(tmp_path / "run"))
    with pytest.raises(TrainingError, match="labels outside"):
        train(config)


def test_command_line_with_accumulation(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "cli"
    code = cli.main(["train", "--data-dir", data_dir, "--dataset-option", "size=48x48",
                     "--dataset-option", "num_train=4", "--dataset-option", "num_val=2",
                     "--width", "0.125", "--crop-size", "32", "--batch-size", "1",
                     "--accumulate", "2", "--max-steps", "2", "--run-dir", str(run_dir),
                     "--seed", "3"])
    assert code == 0
    assert checkpoint_step(latest_checkpoint(str(run_dir / "checkpoints"))) == 2
    record = json.loads((run_dir / "config.json").read_text())
    assert record["settings"]["accumulate"] == 2 and record["settings"]["crop_size"] == 32
    printed = capsys.readouterr()
    assert "mean IU" in printed.err and "person" in printed.err


def test_training_and_validation_from_tfrecords(data_dir, tmp_path):
    config = tiny(data_dir, tmp_path / "run", max_steps=2)
    source = get_dataset("synthetic", data_dir, **config.dataset_options)
    records = tmp_path / "records"
    write_tfrecords(source, "train", str(records), num_shards=2)
    write_tfrecords(source, "val", str(records))
    from_records = train(tiny(data_dir, tmp_path / "records-run", max_steps=2,
                              tfrecords=str(records / "train-*.tfrecord"),
                              val_tfrecords=str(records / "val-*.tfrecord")))
    assert from_records["step"] == 2 and np.isfinite(losses(from_records)).all()
    assert 0.0 <= from_records["validation"]["pixel_accuracy"] <= 1.0
    recorded = load_record(str(tmp_path / "records-run"))
    assert recorded.settings["tfrecords"].endswith("train-*.tfrecord")
    # A pattern that matches nothing is an error naming it, not an empty run.
    with pytest.raises(DataError, match="nothing-here"):
        train(tiny(data_dir, tmp_path / "missing", max_steps=1,
                   tfrecords=str(records / "nothing-here-*.tfrecord")))


def test_two_towers_give_the_loss_and_update_of_one(data_dir, tmp_path):
    """On a machine without GPUs both towers run on the CPU: same sums, same weights after."""
    one = train(tiny(data_dir, tmp_path / "one", max_steps=2, loss_normalize="sum",
                     optimizer="sgd", lr=1e-6, towers=1, xla=False))
    two = train(tiny(data_dir, tmp_path / "two", max_steps=2, loss_normalize="sum",
                     optimizer="sgd", lr=1e-6, towers=2, xla=False))
    np.testing.assert_allclose(losses(two), losses(one), rtol=1e-5)
    for name in ("conv1_1/weights", "score_fr/biases"):
        np.testing.assert_allclose(tf.train.load_variable(two["checkpoint"], name),
                                   tf.train.load_variable(one["checkpoint"], name),
                                   rtol=1e-4, atol=1e-7)
    with pytest.raises(SettingsError, match="does not split evenly over 3 towers"):
        train(tiny(data_dir, tmp_path / "three", max_steps=1, towers=3))


def test_resume_without_a_seed_replays_the_recorded_one(data_dir, tmp_path):
    """A drawn seed is what orders the data: a resumed run must reuse it, not draw again."""
    head = train(tiny(data_dir, tmp_path, max_steps=1, seed=None))
    tail = train(tiny(data_dir, tmp_path, max_steps=2, seed=None, resume=True))
    assert tail["config"].seed == head["config"].seed
    assert load_record(str(tmp_path)).settings["seed"] == head["config"].seed


def test_the_finiteness_check_covers_optimizer_slots(data_dir, tmp_path):
    """An inf Adam second moment freezes its weight at a finite value: it must not be saved."""
    run = prepare(as_settings(tiny(data_dir, tmp_path, optimizer="adam")))
    training = build_training_graph(run, 0)
    with tf.compat.v1.Session(graph=training.graph) as sess:
        sess.run(training.initializers)
        assert sess.run(training.weights_finite)
        slot = next(v for v in training.graph.get_collection("variables")
                    if v.op.name.endswith("score_fr/weights/Adam_1"))
        slot.load(np.full(slot.shape, np.inf, np.float32), sess)
        assert not sess.run(training.weights_finite)


def test_keep_best_records_the_best_validation_and_eval_uses_it(data_dir, tmp_path, capsys):
    seen = []
    train(tiny(data_dir, tmp_path, max_steps=4, eval_every=1, save_every=2, keep_best=True),
          on_evaluation=lambda step, scores: seen.append((scores["mean_iu"], step)))
    best_iu, best_step = max(seen, key=lambda pair: (pair[0], -pair[1]))  # the first of a tie
    record = load_record(str(tmp_path))
    assert (record.best["step"], record.best["mean_iu"]) == (best_step, pytest.approx(best_iu))
    prefix = os.path.join(str(tmp_path), record.best["checkpoint"])
    assert checkpoint_step(prefix) == best_step
    assert cli.main(["eval", "--checkpoint", str(tmp_path), "--max-images", "1"]) == 0
    assert f"the best on validation: step {best_step}" in capsys.readouterr().out
