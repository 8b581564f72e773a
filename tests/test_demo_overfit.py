"""`fcn-graph demo overfit` at a tiny width and a few steps: figure, IoUs, CLI."""
import argparse

import numpy as np
from PIL import Image

from fcn_graph import crf
from fcn_graph.cli import main
from fcn_graph.data import get_dataset
from fcn_graph.demo.figure import MARGIN, TITLE_HEIGHT, panel_row
from fcn_graph.commands.demo import add_overfit_arguments
from fcn_graph.demo.overfit import (FIGURE_SCALE, PRESETS, TITLES, OverfitOptions,
                                    dataset_options)


def test_panel_row_places_titled_panels_side_by_side():
    red = np.zeros((4, 5, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((6, 3, 3), np.uint8)
    blue[..., 2] = 255
    figure = np.asarray(panel_row([("red", red), ("blue\nsecond line", blue)], scale=2))
    assert figure.shape == (12 + TITLE_HEIGHT + 2 * MARGIN, 10 + 6 + 3 * MARGIN, 3)
    top = MARGIN + TITLE_HEIGHT
    assert (figure[top:top + 8, MARGIN:MARGIN + 10] == [255, 0, 0]).all()
    assert (figure[top:top + 12, 2 * MARGIN + 10:2 * MARGIN + 16] == [0, 0, 255]).all()
    assert (figure[:top - 2] != 255).any()  # the titles were drawn


def printed_ious(printed, titles):
    ious = {}
    for title in titles:
        line = next(l for l in printed.splitlines() if l.startswith(title + " ") and "mean IU" in l)
        ious[title] = float(line.split()[-1])
        assert 0.0 <= ious[title] <= 1.0
    return ious


def with_crf(titles):
    return titles + [f"{title} + CRF" for title in titles] if crf.available() else titles


def test_comparison_preset_writes_the_figure_and_prints_ious(tmp_path, capsys):
    out = tmp_path / "figure.png"
    code = main(["demo", "overfit", "--preset", "comparison", "--steps", "2", "--width",
                 "0.0625", "--out", str(out), "--run-dir", str(tmp_path / "runs")])
    assert code == 0
    printed = capsys.readouterr().err
    titles = with_crf([TITLES[model] for model in PRESETS["comparison"].models])
    printed_ious(printed, titles)
    assert "step 2/2" in printed  # per-step loss
    options = OverfitOptions(preset="comparison")
    height, width = get_dataset("single_image", **dataset_options(options)).fixed_size
    assert max(height, width) == PRESETS["comparison"].longest_side
    figure = Image.open(out)
    panels = 2 + len(titles)
    assert figure.size == (panels * (width * FIGURE_SCALE + MARGIN) + MARGIN,
                           height * FIGURE_SCALE + TITLE_HEIGHT + 2 * MARGIN)


def test_tutorial_preset_smoke_trains_one_fcn32s_on_the_cat_and_its_crf(tmp_path, capsys):
    out = tmp_path / "figure.png"
    assert main(["demo", "overfit", "--smoke", "--out", str(out), "--run-dir",
                 str(tmp_path / "runs")]) == 0
    printed = capsys.readouterr().err
    printed_ious(printed, with_crf(["FCN-32s"]))
    assert "FCN-8s" not in printed
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["fcn32s"]
    figure = Image.open(out)
    assert figure.size[0] == (2 + len(with_crf(["FCN-32s"]))) * (64 + MARGIN) + MARGIN


def test_tutorial_preset_without_weights_is_refused_naming_the_fix(tmp_path, capsys):
    assert main(["demo", "overfit", "--out", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert "--weights vgg_16.ckpt" in err and "--preset comparison" in err


def test_crf_flags_override_the_presets_settings():
    parser = argparse.ArgumentParser()
    add_overfit_arguments(parser)
    args = parser.parse_args(["--crf-bilateral-compat", "4", "--crf-kernel", "full"])
    assert crf.chosen_options(args, "tutorial") == dict(crf.PRESETS["tutorial"],
                                                        bilateral_compat=4.0, kernel="full")
