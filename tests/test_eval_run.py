"""`evaluate_run` and `fcn-graph eval` on a tiny run directory over synthetic scenes."""
import json
import os

import numpy as np
import pytest

from fcn_graph import crf
from fcn_graph.data import get_dataset
from fcn_graph.errors import CheckpointError
from fcn_graph.evaluation import evaluate_run
from fcn_graph.inference import Segmenter, predict
from fcn_graph.metrics import RoadBenchmark, confusion_matrix
from fcn_graph.training import train
from data_fixtures import write_kitti
from fixtures import SYNTHETIC_CLASSES, SYNTHETIC_OPTIONS


def test_one_confusion_matrix_over_the_split_matches_image_by_image(tiny_run):
    run_dir, data_dir = tiny_run
    result = evaluate_run(run_dir)
    assert result["num_images"] == SYNTHETIC_OPTIONS["num_val"]
    assert result["class_names"][2] == "road"
    source = get_dataset("synthetic", data_dir, **SYNTHETIC_OPTIONS)
    examples = source.examples("val")
    predictions = predict(run_dir, [image for image, _, _ in examples])
    expected = sum(confusion_matrix(source.read_label(label), pred, SYNTHETIC_CLASSES)
                   for (_, label, _), pred in zip(examples, predictions))
    np.testing.assert_array_equal(result["confusion_matrix"], expected)
    height, width = SYNTHETIC_OPTIONS["size"]
    assert np.sum(expected) == len(examples) * height * width
    # Random weights must not predict one class everywhere, or the check above says little.
    assert np.count_nonzero(np.sum(expected, axis=0)) > 1
    assert 0.0 <= result["mean_iu"] <= 1.0
    assert len(result["per_class_accuracy"]) == SYNTHETIC_CLASSES


def test_max_images_and_a_checkpoint_prefix(tiny_run):
    run_dir, _ = tiny_run
    prefix = os.path.join(run_dir, "checkpoints", "model.ckpt-1")
    result = evaluate_run(prefix, max_images=1)
    assert result["num_images"] == 1
    assert result["checkpoint"] == prefix
    assert np.sum(result["confusion_matrix"]) == np.prod(SYNTHETIC_OPTIONS["size"])


def test_crf_scores_the_same_images_twice(tiny_run):
    if not crf.available():
        pytest.skip("pydensecrf is not installed")
    run_dir, data_dir = tiny_run
    result = evaluate_run(run_dir, crf=True, max_images=2)
    plain, refined = np.array(result["confusion_matrix"]), np.array(
        result["crf_scores"]["confusion_matrix"])
    # The plain row is what evaluation without the CRF reports.
    np.testing.assert_array_equal(plain, evaluate_run(run_dir, max_images=2)["confusion_matrix"])
    # The refined row scores the same pixels against the same ground truth, each
    # prediction being the CRF refinement of that image's own probabilities.
    source = get_dataset("synthetic", data_dir, **SYNTHETIC_OPTIONS)
    expected = np.zeros_like(refined)
    with Segmenter(run_dir, crf=True) as segmenter:
        for image, label, _ in source.examples("val")[:2]:
            expected += confusion_matrix(source.read_label(label), segmenter.segment(image)[0],
                                         SYNTHETIC_CLASSES)
    np.testing.assert_array_equal(refined, expected)
    assert 0.0 <= result["crf_scores"]["pixel_accuracy"] <= 1.0


def test_cli_prints_the_table_and_writes_json(tiny_run, tmp_path, capsys, run_command):
    run_dir, _ = tiny_run
    out = tmp_path / "scores.json"
    assert run_command(["eval", "--checkpoint", run_dir, "--json", out]) == 0
    printed = capsys.readouterr().out
    for text in ("vegetation", "IoU", "F1", "pixel accuracy", "mean IU", "f.w. IU",
                 "mean F1 (Dice)", "3 images", "peak memory"):
        assert text in printed
    saved = json.loads(out.read_text())
    assert saved["num_images"] == 3
    assert len(saved["per_class_iu"]) == len(saved["per_class_f1"]) == SYNTHETIC_CLASSES
    assert saved["class_names"][0] == "sky"
    hist = np.array(saved["confusion_matrix"])
    f1 = 2 * np.diag(hist) / (hist.sum(axis=0) + hist.sum(axis=1))
    present = hist.sum(axis=0) + hist.sum(axis=1) > 0
    assert saved["mean_f1"] == pytest.approx(np.mean(f1[present]))
    assert f"{100 * saved['mean_f1']:6.2f}" in printed


def test_kitti_eval_prints_the_road_benchmark(tmp_path, capsys, run_command):
    data_dir = write_kitti(str(tmp_path / "kitti"))
    train(dict(model="simple_fcn", dataset="kitti", data_dir=data_dir, crop_size=None,
               batch_size=1, max_steps=1, eval_every=1, seed=0, run_dir=str(tmp_path / "run")))
    capsys.readouterr()
    assert run_command(["eval", "--checkpoint", tmp_path / "run", "--json",
                        tmp_path / "scores.json"]) == 0
    printed = capsys.readouterr().out
    road = json.loads((tmp_path / "scores.json").read_text())["road"]
    source = get_dataset("kitti", data_dir)
    examples = source.examples("val")
    _, probabilities = predict(str(tmp_path / "run"), [image for image, _, _ in examples],
                               return_probabilities=True)
    expected = RoadBenchmark(road_class=1)
    for (_, label, _), probability in zip(examples, probabilities):
        expected.add(probability[..., 1], source.read_label(label))
    assert road == pytest.approx(expected.scores())
    assert road["num_images"] == len(examples) == 1
    assert (f"KITTI road (1 images): MaxF {100 * road['max_f']:.2f}  "
            f"AP {100 * road['average_precision']:.2f}  precision {100 * road['precision']:.2f}"
            f"  recall {100 * road['recall']:.2f}") in printed
    assert "F1" in printed


def test_wrong_dataset_is_refused_with_the_reason(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    with pytest.raises(ValueError, match="21 classes"):
        evaluate_run(run_dir, dataset="voc2012", data_dir=str(tmp_path))


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        evaluate_run(str(tmp_path))


def test_a_run_written_by_the_trainer_scores_as_its_final_validation(tmp_path):
    trained = train(dict(
        model="fcn32s", geometry="caffe", width=1 / 16, dataset="synthetic",
        data_dir=str(tmp_path / "data"), dataset_options=dict(SYNTHETIC_OPTIONS, num_train=2),
        crop_size=None, batch_size=1, max_steps=2, save_every=2, eval_every=2, seed=0,
        run_dir=str(tmp_path / "run")))
    result = evaluate_run(str(tmp_path / "run"))
    assert result["checkpoint"] == trained["checkpoint"]
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu"):
        assert result[key] == pytest.approx(trained["validation"][key])
