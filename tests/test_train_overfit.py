"""The tutorial demo: overfitting the single shipped photo reaches >= 0.95 pixel accuracy."""
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
