"""`fcn-graph demo upsample`: the transposed convolution against scikit-image on a photo."""
import numpy as np
import pytest
from PIL import Image

from fcn_graph.cli import main
from fcn_graph.demo.upsample import upsample_photo
from fcn_graph.errors import DataError, UsageError
from fcn_graph.testing import reference_upsample


def write_photo(path, size=(11, 7), mode="RGB"):
    rng = np.random.RandomState(3)
    pixels = rng.randint(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return pixels


@pytest.mark.parametrize("factor", [2, 3, 8])
def test_upsampled_photo_matches_skimage_everywhere(tmp_path, factor):
    pixels = write_photo(tmp_path / "photo.png")
    out = tmp_path / "out" / "big.png"
    difference = upsample_photo(str(tmp_path / "photo.png"), factor, str(out))
    assert difference < 1e-3
    written = np.asarray(Image.open(out))
    assert written.shape == (7 * factor, 11 * factor, 3)
    expected = np.clip(np.round(reference_upsample(pixels[None].astype(np.float32), factor)[0]),
                       0, 255)
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1


def test_grey_photos_are_upsampled_as_rgb(tmp_path):
    write_photo(tmp_path / "grey.png", mode="L")
    upsample_photo(str(tmp_path / "grey.png"), 2, str(tmp_path / "big.png"))
    assert np.asarray(Image.open(tmp_path / "big.png")).shape == (14, 22, 3)


def test_command_prints_the_difference(tmp_path, capsys):
    write_photo(tmp_path / "photo.png")
    out = tmp_path / "big.png"
    assert main(["demo", "upsample", str(tmp_path / "photo.png"), "4", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max |transposed conv - skimage" in printed
    value = float(printed.split("=")[-1].split()[0])
    assert value < 1e-3 and out.exists()


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(DataError, match="missing.png"):
        upsample_photo(str(tmp_path / "missing.png"), 2, str(tmp_path / "o.png"))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match="notes.png"):
        upsample_photo(str(tmp_path / "notes.png"), 2, str(tmp_path / "o.png"))
    write_photo(tmp_path / "photo.png")
    with pytest.raises(UsageError, match="FACTOR"):
        upsample_photo(str(tmp_path / "photo.png"), 0, str(tmp_path / "o.png"))
