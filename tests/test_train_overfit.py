"""The tutorial demo: overfitting the single shipped photo reaches >= 0.95 pixel accuracy."""
from fcn_graph.rundir import load_record
from fcn_graph.training import TrainConfig, train


def test_fcn8s_overfits_the_single_image(tmp_path):
    # The tutorials' cat, resized by the input pipeline so the test runs in seconds.
    result = train(TrainConfig(dataset="single_image",
                               dataset_options={"photo": "chelsea", "size": (64, 96)},
                               model="fcn8s", geometry="same", width=0.25, crop_size=None,
                               batch_size=1, max_steps=40, eval_every=1000, seed=1,
                               run_dir=str(tmp_path)))
    assert result["step"] == 40
    assert result["validation"]["pixel_accuracy"] >= 0.95
    assert result["history"][-1][1] < 0.5 * result["history"][0][1]


def test_train_command_on_single_image_works_out_of_the_box(tmp_path, capsys):
    """No training flags: the dataset's own defaults (whole image, nothing random) apply."""
    from fcn_graph.cli import main
    code = main(["train", "--dataset", "single_image", "--dataset-option", "size=64x64",
                 "--max-steps", "60", "--seed", "0", "--run-dir", str(tmp_path)])
    assert code == 0
    config = load_record(str(tmp_path)).settings
    assert config["crop_size"] is None and config["augment"] is False
    assert config["dropout_rate"] == 0.0 and config["batch_size"] == 1
    printed = capsys.readouterr()
    line = next(l for l in (printed.out + printed.err).splitlines()
                if l.startswith("pixel accuracy"))
    assert float(line.split()[2]) >= 0.95
