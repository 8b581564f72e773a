"""`fcn-graph demo overfit` at a tiny width and a few steps: figure, IoUs, CLI."""
import numpy as np
from PIL import Image

from fcn_graph import crf
from fcn_graph.cli import main
from fcn_graph.data import get_dataset
from fcn_graph.demo.figure import MARGIN, TITLE_HEIGHT, panel_row
from fcn_graph.demo.overfit import FIGURE_SCALE, MODELS, OverfitOptions, dataset_options


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


def test_overfit_command_writes_the_figure_and_prints_ious(tmp_path, capsys):
    out = tmp_path / "figure.png"
    code = main(["demo", "overfit", "--steps", "2", "--width", "0.0625", "--out", str(out),
                 "--run-dir", str(tmp_path / "runs")])
    assert code == 0
    printed = capsys.readouterr().err
    titles = [title for _, title in MODELS]
    if crf.available():
        titles += [f"{title} + CRF" for title in titles]
    for title in titles:
        line = next(l for l in printed.splitlines() if l.startswith(title + " ") and "mean IU" in l)
        assert 0.0 <= float(line.split()[-1]) <= 1.0
    assert "step 2/2" in printed  # per-step loss
    height, width = get_dataset("single_image", **dataset_options(OverfitOptions())).fixed_size
    figure = Image.open(out)
    panels = 2 + len(titles)
    assert figure.size == (panels * (width * FIGURE_SCALE + MARGIN) + MARGIN,
                           height * FIGURE_SCALE + TITLE_HEIGHT + 2 * MARGIN)
