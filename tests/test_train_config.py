"""TrainConfig recipes, config.json and the train command's flags."""
import argparse
import json

import pytest

from fcn_graph.commands import train as train_command
from fcn_graph.training import TrainConfig, load_run_config
from fcn_graph.training.config import CONFIG_FILE, write_run_config


def test_adam_recipe_is_the_default():
    c = TrainConfig().resolved()
    assert (c.optimizer, c.loss_normalize, c.lr_policy) == ("adam", "mean", "poly")
    assert c.lr == 1e-3 and c.weight_decay == 0.0 and c.bias_lr_mult == 1.0
    assert c.width == 0.25 and c.dataset == "synthetic" and c.model == "fcn8s"
    assert isinstance(c.seed, int) and c.run_dir


def test_adam_from_pretrained_weights_uses_the_smaller_rate_and_full_width():
    c = TrainConfig(weights="vgg16.npy").resolved()
    assert c.lr == 1e-4 and c.width == 1.0


@pytest.mark.parametrize("model, lr", [("fcn32s", 1e-10), ("fcn16s", 1e-12), ("fcn8s", 1e-14),
                                       ("fcn8s-atonce", 1e-10)])
def test_sgd_recipe_is_the_reference_solver(model, lr):
    c = TrainConfig(model=model, optimizer="sgd").resolved()
    assert c.lr == lr and c.momentum == 0.99 and c.weight_decay == 5e-4
    assert (c.bias_lr_mult, c.loss_normalize, c.lr_policy) == (2.0, "sum", "fixed")


def test_explicit_values_win_over_the_recipe():
    c = TrainConfig(optimizer="sgd", lr=1e-3, weight_decay=0.0, lr_policy="poly").resolved()
    assert (c.lr, c.weight_decay, c.lr_policy) == (1e-3, 0.0, "poly")


@pytest.mark.parametrize("options, match", [
    ({"optimizer": "rmsprop"}, "unknown optimizer"),
    ({"model": "resnet"}, "unknown model"),
    ({"bias_lr_mult": 2.0}, "Adam"),
    ({"accumulate": 0}, "accumulate"),
    ({"model": "unet", "optimizer": "sgd"}, "--lr"),
])
def test_bad_choices_fail_with_a_clear_message(options, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**options).resolved()


def test_run_config_is_found_from_a_checkpoint_prefix(tmp_path):
    write_run_config(str(tmp_path), {"model": "fcn8s", "num_classes": 6})
    (tmp_path / "checkpoints").mkdir()
    prefix = tmp_path / "checkpoints" / "model.ckpt-10"
    for path in (tmp_path, tmp_path / "checkpoints", prefix):
        assert load_run_config(str(path))["num_classes"] == 6
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_run_config(str(tmp_path.parent / "elsewhere"))


def parse(argv):
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers())
    return parser.parse_args(["train"] + argv)


def test_flags_mirror_the_config_and_unset_flags_keep_defaults():
    config = train_command.config_from_args(parse([
        "--optimizer", "sgd", "--accumulate", "20", "--crop-size", "384x160",
        "--dataset-option", "num_train=8", "--max-steps", "7", "--deterministic"]))
    assert config.optimizer == "sgd" and config.accumulate == 20 and config.max_steps == 7
    assert config.crop_size == (160, 384) and config.dataset_options == {"num_train": 8}
    assert config.deterministic and config.lr is None and config.model == "fcn8s"
    assert train_command.config_from_args(parse(["--crop-size", "none"])).crop_size is None
    assert train_command.config_from_args(parse(["--crop-size", "64"])).crop_size == 64
    with pytest.raises(SystemExit):
        parse(["--crop-size", "1x2x3"])


def test_resume_takes_the_stored_config_and_overrides_only_given_flags(tmp_path):
    stored = TrainConfig(model="fcn16s", lr=3e-4, seed=5, run_dir=str(tmp_path)).resolved()
    record = dict(stored.__dict__, class_names=["a", "b"])
    (tmp_path / CONFIG_FILE).write_text(json.dumps(record))
    config = train_command.config_from_args(
        parse(["--resume", "--run-dir", str(tmp_path), "--max-steps", "900"]))
    assert (config.model, config.lr, config.seed, config.max_steps) == ("fcn16s", 3e-4, 5, 900)
    assert config.resume
