"""Tiled, test-time augmented and batched inference through `Segmenter`, `predict` and the CLI."""
import numpy as np
import pytest
from PIL import Image
from skimage.transform import resize

from fcn_graph.data import get_dataset
from fcn_graph.errors import SettingsError
from fcn_graph.evaluation import evaluate_run
from fcn_graph.inference import InferenceOptions, Segmenter, mean_rgb, predict
from fcn_graph.metrics import confusion_matrix
from fcn_graph.models import ModelSpec
from fcn_graph.windows import pad_to
from fixtures import (FLOAT32_RUNS_AGREE, SYNTHETIC_CLASSES, SYNTHETIC_OPTIONS,
                      assert_same_prediction, make_run, run_command)


def random_image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory):
    """A one-level U-Net: stride 2, and an output pixel sees 10 pixels either way."""
    root = tmp_path_factory.mktemp("unet")
    make_run(str(root / "run"), root / "data", model="unet", options={"depth": 1}, seed=2)
    return str(root / "run")


def test_tiles_reproduce_whole_image_inference_where_they_cover_the_receptive_field(unet_run):
    image = random_image((96, 112, 3), 0)
    with Segmenter(unet_run) as whole:
        labels, expected = whole.segment(image)
    assert np.unique(labels).size > 1
    # Overlap 48 discards 12 pixels at inner tile edges, more than the 10 the network sees.
    for batch_size in (1, 5):
        options = InferenceOptions(tile=(64, 64), overlap=48, batch_size=batch_size)
        with Segmenter(unet_run, options=options) as tiled:
            tiled_labels, probabilities = tiled.segment(image)
        assert_same_prediction(tiled_labels, probabilities, labels, expected)
    # Without overlap the tiles' cut-off edges show: the check above can fail.
    with Segmenter(unet_run, options=InferenceOptions(tile=(64, 64))) as cut:
        assert np.abs(cut.segment(image)[1] - expected).max() > 1e-3


def test_flips_and_scales_average_separately_computed_predictions(tiny_run):
    run_dir, _ = tiny_run
    image = random_image((24, 30, 3), 1)
    scales = (0.5, 1.0, 1.5)
    options = InferenceOptions(scales=scales, flip=True)
    with Segmenter(run_dir, options=options) as augmented, Segmenter(run_dir) as plain:
        labels, probabilities = augmented.segment(image)
        copies = []
        for scale in scales:
            size = (round(scale * 24), round(scale * 30))
            scaled = resize(image.astype(np.float32), size, order=1, mode="edge",
                            anti_aliasing=scale < 1, preserve_range=True)
            for mirrored in (False, True):
                fed = scaled[:, ::-1] if mirrored else scaled
                output = plain.run_batch(fed[None].astype(np.float32))[0]
                output = output[:, ::-1] if mirrored else output
                copies.append(resize(output, (24, 30), order=1, mode="edge",
                                     anti_aliasing=False, preserve_range=True))
    expected = np.mean(copies, axis=0)
    assert_same_prediction(labels, probabilities, expected.argmax(axis=-1), expected)
    assert np.abs(copies[0] - copies[2]).max() > 1e-3  # the copies differ: the mean means something


def test_a_batch_of_one_size_equals_one_image_at_a_time(tiny_run):
    run_dir, _ = tiny_run
    images = [random_image((24, 32, 3), seed) for seed in (2, 3, 4)]
    alone_labels, alone = predict(run_dir, images, return_probabilities=True)
    batched_labels, batched = predict(run_dir, images, return_probabilities=True,
                                      options=InferenceOptions(batch_size=3))
    for one, many, one_labels, many_labels in zip(alone, batched, alone_labels, batched_labels):
        assert_same_prediction(many_labels, many, one_labels, one)


def test_a_mixed_batch_is_padded_with_the_mean_colour_and_cropped_back(tiny_run):
    run_dir, _ = tiny_run
    images = [random_image((30, 26, 3), 5), random_image((17, 20, 3), 6)]
    with Segmenter(run_dir) as segmenter:
        (labels, probabilities), (_, small) = segmenter.segment_batch(images)
        alone_labels, alone = segmenter.segment(images[0])
        padded = pad_to(images[1], 30, 26, mean_rgb(segmenter.record.model.convention))
        small_padded = segmenter.run_batch(padded[None])[0]
    # The largest image is not padded: its result is its own.
    assert_same_prediction(labels, probabilities, alone_labels, alone)
    # The smaller one is what the network makes of it padded with the mean colour (R, G, B
    # of the BGR mean), cropped back; near the padding that differs from running it alone.
    assert small.shape == (17, 20, SYNTHETIC_CLASSES)
    np.testing.assert_allclose(small, small_padded[:17, :20], rtol=0, atol=FLOAT32_RUNS_AGREE)


def test_eval_with_augmentation_scores_what_the_segmenter_predicts(tiny_run):
    run_dir, data_dir = tiny_run
    options = InferenceOptions(scales=(0.75, 1.0), flip=True)
    result = evaluate_run(run_dir, options=options)
    source = get_dataset("synthetic", data_dir, **SYNTHETIC_OPTIONS)
    examples = source.examples("val")
    predictions = predict(run_dir, [image for image, _, _ in examples], options=options)
    expected = sum(confusion_matrix(source.read_label(label), prediction, SYNTHETIC_CLASSES)
                   for (_, label, _), prediction in zip(examples, predictions))
    np.testing.assert_array_equal(result["confusion_matrix"], expected)
    assert "scales 0.75,1 with flips" in result["inference"]
    # A tile covering the 24x32 images is whole-image inference, run from Python.
    tiled = evaluate_run(run_dir, options=InferenceOptions(tile=(32, 32)))
    np.testing.assert_array_equal(tiled["confusion_matrix"],
                                  evaluate_run(run_dir)["confusion_matrix"])


def test_infer_tiles_batches_and_reports_rate_and_memory(tiny_run, tmp_path, capsys):
    run_dir, _ = tiny_run
    folder = tmp_path / "images"
    folder.mkdir()
    images = {f"{name}.png": random_image((24, 32, 3), seed) for seed, name in enumerate("abc")}
    for name, image in images.items():
        Image.fromarray(image).save(folder / name)
    assert run_command(["infer", "--checkpoint", run_dir, folder, "--out", tmp_path / "out",
                        "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert "images/s" in printed and "batch 2" in printed and "peak memory" in printed
    expected = predict(run_dir, list(images.values()))
    for (name, _), labels in zip(images.items(), expected):
        np.testing.assert_array_equal(np.array(Image.open(tmp_path / "out" / name)), labels)
    assert run_command(["infer", "--checkpoint", run_dir, folder, "--out", tmp_path / "tiled",
                        "--tile", "32x32", "--scales", "1,1.25", "--flip"]) == 0
    printed = capsys.readouterr().out
    assert "tiles 32x32 overlapping 0x0, scales 1,1.25 with flips" in printed
    assert "peak memory" in printed


def test_network_stride_follows_the_spec():
    def stride(name, **options):
        return ModelSpec(name=name, num_classes=2, options=options).stride
    assert stride("fcn8s") == stride("fcn32s") == 32
    assert stride("simple_fcn") == 16
    assert stride("unet") == 16 and stride("unet", depth=2) == 4
    assert stride("unet", style="tf_example") == 32


@pytest.mark.parametrize("flags, status, message", [
    (["--tile", "16"], 1, "--tile 16 is smaller than the network's stride 32"),
    (["--tile", "64", "--overlap", "64"], 1, "--overlap 64 must be smaller than --tile 64"),
    (["--overlap", "8"], 1, "--overlap applies to tiles"),
    (["--tile", "64x0"], 2, "--tile"),
    (["--scales", "1,0"], 2, "--scales"),
    (["--scales", "-0.5"], 2, "--scales"),
    (["--batch-size", "0"], 2, "--batch-size"),
])
def test_bad_inference_flags_name_the_flag(tiny_run, tmp_path, capsys, flags, status, message):
    run_dir, _ = tiny_run
    image = tmp_path / "photo.png"
    Image.fromarray(random_image((24, 32, 3), 7)).save(image)
    for command in (["infer", "--checkpoint", run_dir, image, "--out", tmp_path / "out"],
                    ["eval", "--checkpoint", run_dir, "--max-images", "1"]):
        if status == 2:
            with pytest.raises(SystemExit) as exit_info:
                run_command(command + flags)
            assert exit_info.value.code == 2
        else:
            assert run_command(command + flags) == 1
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in err


def test_options_are_checked_in_the_library_too():
    with pytest.raises(SettingsError, match="--scales"):
        InferenceOptions(scales=(0,))
    with pytest.raises(SettingsError, match="--batch-size"):
        InferenceOptions(batch_size=0)
    with pytest.raises(SettingsError, match="stride 16"):
        InferenceOptions(tile=(8, 32)).check_stride(16)
