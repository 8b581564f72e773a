"""Settings: one resolution of defaults, dataset defaults, recipes and stored runs; the flags."""
import argparse

import pytest

from fcn_graph.commands import train as train_command
from fcn_graph.data.single_image import SingleImage
from fcn_graph.errors import SettingsError
from fcn_graph.training import TrainConfig, resolve
from fcn_graph.training.config import FIELDS, as_settings, new_run_identity
from fcn_graph.training.loop import prepare


def test_adam_recipe_is_the_default():
    c = resolve(TrainConfig())
    assert (c.optimizer, c.loss_normalize, c.lr_policy) == ("adam", "mean", "poly")
    assert c.lr == 1e-3 and c.weight_decay == 0.0 and c.bias_lr_mult == 1.0
    assert c.width == 0.25 and c.dataset == "synthetic" and c.model == "fcn8s"
    assert c.crop_size == 96 and c.batch_size == 4


def test_resolution_is_pure_and_a_new_run_draws_its_identity():
    assert resolve({}) == resolve({})
    assert resolve({}).seed is None and resolve({}).run_dir is None
    identity = new_run_identity(resolve({"model": "fcn16s"}))
    assert isinstance(identity.seed, int) and "fcn16s-synthetic-" in identity.run_dir
    assert new_run_identity(resolve({"seed": 3, "run_dir": "here"})).seed == 3


def test_adam_from_pretrained_weights_uses_the_smaller_rate_and_full_width():
    c = resolve(TrainConfig(weights="vgg16.npy"))
    assert c.lr == 1e-4 and c.width == 1.0


@pytest.mark.parametrize("model, lr", [("fcn32s", 1e-10), ("fcn16s", 1e-12), ("fcn8s", 1e-14),
                                       ("fcn8s-atonce", 1e-10)])
def test_sgd_recipe_is_the_reference_solver(model, lr):
    c = resolve(TrainConfig(model=model, optimizer="sgd"))
    assert c.lr == lr and c.momentum == 0.99 and c.weight_decay == 5e-4
    assert (c.bias_lr_mult, c.loss_normalize, c.lr_policy) == (2.0, "sum", "fixed")


def test_explicit_values_win_over_the_recipe():
    c = resolve(TrainConfig(optimizer="sgd", lr=1e-3, weight_decay=0.0, lr_policy="poly"))
    assert (c.lr, c.weight_decay, c.lr_policy) == (1e-3, 0.0, "poly")


def test_precedence_of_the_layers():
    """caller > stored run > recipe > dataset defaults > derived > field defaults."""
    class Source:
        training_defaults = {"batch_size": 1, "crop_size": None, "max_steps": 150}
        class_names = ("a", "b", "c")

    base = {"batch_size": 2, "max_steps": 900, "lr": 0.5}
    stored = {"batch_size": 3, "max_steps": 50}
    c = resolve({"max_steps": 60}, stored=stored, source=Source(), base=base)
    assert (c.max_steps, c.batch_size, c.lr, c.crop_size) == (60, 3, 0.5, None)
    assert c.num_classes == 3
    assert resolve({}, source=Source()).batch_size == 1


def test_a_dataset_s_training_defaults_apply_from_python_too():
    c = resolve(TrainConfig(dataset="single_image"), source=SingleImage)
    for name, value in SingleImage.training_defaults.items():
        assert getattr(c, name) == value
    assert resolve(TrainConfig(dataset="single_image", batch_size=2),
                   source=SingleImage).batch_size == 2


def test_resume_refuses_a_setting_that_changes_the_network_naming_both_values():
    stored = {"width": 0.25, "model": "fcn8s", "max_steps": 10}
    with pytest.raises(SettingsError, match=r"--width 0\.5 .*recorded width 0\.25"):
        resolve({"width": 0.5}, stored=stored)
    # The same value, or a setting a resumed run may change, is accepted.
    assert resolve({"width": 0.25, "max_steps": 20, "lr": 1e-5}, stored=stored).max_steps == 20


@pytest.mark.parametrize("options, match", [
    ({"optimizer": "rmsprop"}, "--optimizer must be one of adam, sgd"),
    ({"model": "resnet"}, "--model must be one of"),
    ({"bias_lr_mult": 2.0}, "Adam"),
    ({"accumulate": 0}, "--accumulate must be at least 1"),
    ({"crop_size": 0}, "--crop-size"),
    ({"width": 0.0}, "--width must be positive"),
    ({"lr": -1e-3}, "--lr must be positive"),
    ({"dropout_rate": 1.0}, "--dropout-rate"),
    ({"model": "unet", "optimizer": "sgd"}, "--lr"),
])
def test_bad_choices_fail_with_a_clear_message(options, match):
    with pytest.raises(SettingsError, match=match):
        resolve(options)


def parse(argv):
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers())
    return parser.parse_args(["train"] + argv)


def test_every_setting_but_builder_options_has_a_flag_with_its_default_stated_once():
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers())
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    dests = {action.dest for action in train_parser._actions}
    assert set(FIELDS) - dests == {"net_options"}
    batch = next(a for a in train_parser._actions if a.dest == "batch_size")
    assert f"default: {FIELDS['batch_size'].metadata['default']}" in batch.help


def test_flags_give_only_what_was_typed():
    given = train_command.overrides_from_args(parse([
        "--optimizer", "sgd", "--accumulate", "20", "--crop-size", "384x160",
        "--dataset-option", "num_train=8", "--max-steps", "7", "--deterministic"]))
    assert given == {"optimizer": "sgd", "accumulate": 20, "crop_size": (160, 384),
                     "dataset_options": {"num_train": 8}, "max_steps": 7,
                     "deterministic": True}
    assert train_command.overrides_from_args(parse(["--crop-size", "none"])) == \
        {"crop_size": None}


@pytest.mark.parametrize("argv", [["--crop-size", "1x2x3"], ["--crop-size", "0"],
                                  ["--crop-size=-5"], ["--width", "0"], ["--lr", "-1"],
                                  ["--batch-size", "0"], ["--max-steps", "ten"]])
def test_numeric_flags_are_checked_at_parse_time(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert argv[0].split("=")[0] in capsys.readouterr().err


def test_python_train_applies_the_dataset_s_defaults_as_the_command_line_does(tmp_path):
    """`train(TrainConfig(dataset="single_image"))`: the photo is trained whole, batch 1."""
    run = prepare(as_settings(TrainConfig(dataset="single_image", run_dir=str(tmp_path))))
    for name, value in SingleImage.training_defaults.items():
        assert getattr(run.config, name) == value, name
    assert run.spec.dropout_rate == 0.0 and run.config.num_classes == 21
    assert isinstance(run.config.seed, int) and run.resume_from is None
