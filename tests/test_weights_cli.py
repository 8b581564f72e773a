"""`fcn-graph weights inspect|convert|verify` and the manifest of published files."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from fcn_graph.cli import build_parser, main
from fcn_graph.errors import OutputExistsError
from fcn_graph.weights import load_weights
from fcn_graph.weights.manifest import (PACKAGED_MANIFEST, SOURCE_MANIFEST, load_manifest,
                                        published_shapes)
from fcn_graph.weights.synthetic import random_weights

REPO = Path(__file__).resolve().parents[1]


def npy_file(path, weights):
    content = {name: [kernel.reshape(-1, kernel.shape[-1]) if name.startswith("fc") else kernel,
                      bias] for name, (kernel, bias) in weights.layers.items()}
    np.save(path, content, allow_pickle=True)
    return path


def test_inspect_prints_format_layers_convention(tmp_path, capsys):
    path = npy_file(tmp_path / "vgg16.npy", random_weights("vgg16", width=1 / 16,
                                                           fc8_classes=None))
    assert main(["weights", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format:        npy (caffe-tensorflow npy)" in out
    assert "arch:          vgg16" in out
    assert "channel order: BGR" in out and "103.9390, 116.7790, 123.6800" in out
    assert "fc6            (7, 7, 32, 256)" in out
    assert f"parameters:    {load_weights(path).num_parameters:,}" in out


def test_convert_writes_loadable_plain_npz(tmp_path, capsys):
    original = random_weights("vgg19", width=1 / 16)
    source = npy_file(tmp_path / "vgg19.npy", original)
    out = tmp_path / "vgg19_canonical.npz"
    assert main(["weights", "convert", str(source), str(out)]) == 0
    converted = load_weights(out)
    assert converted.mismatches(original) == []
    assert (converted.arch, converted.channel_order, converted.source) == \
        ("vgg19", "BGR", "caffe-tensorflow npy")
    with np.load(out, allow_pickle=False) as archive:
        assert "conv3_4/weights" in archive.files and "meta/mean" in archive.files
    assert "wrote" in capsys.readouterr().out


def test_errors_are_reported_not_raised(tmp_path, capsys):
    path = tmp_path / "broken.caffemodel"
    path.write_bytes(b"\x0a\xff\xff")
    assert main(["weights", "inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fcn-graph weights: error: ")
    assert "broken.caffemodel: not a Caffe NetParameter" in err
    assert main(["weights", "convert", str(path), str(tmp_path / "x.npz")]) == 1
    assert not (tmp_path / "x.npz").exists()


def test_convert_refuses_to_overwrite(tmp_path, capsys):
    source = npy_file(tmp_path / "vgg16.npy", random_weights("vgg16", width=1 / 16))
    out = tmp_path / "converted.npz"
    out.write_bytes(b"keep me")
    args = build_parser().parse_args(["weights", "convert", str(source), str(out)])
    with pytest.raises(OutputExistsError) as refused:
        args.func(args)
    assert str(refused.value) == f"{out}: already exists; pass --overwrite to replace it"
    assert out.read_bytes() == b"keep me"
    assert main(["weights", "convert", str(source), str(out), "--overwrite"]) == 0
    assert load_weights(out).arch == "vgg16"


@pytest.mark.parametrize("name", ["vgg16.npy", "renamed.npy"])
def test_verify_says_a_missing_file_does_not_exist(tmp_path, capsys, name):
    assert main(["weights", "verify", str(tmp_path / name)]) == 1
    err = capsys.readouterr().err
    assert f"{name}: the file does not exist" in err and len(err.splitlines()) == 1


def full_size_notop(arch, seed=0):
    return random_weights(arch, width=1.0, include_top=False, seed=seed)


def test_verify_checks_structure_and_documented_md5(tmp_path, capsys):
    # Keras' notop VGG19 layout: its md5 is documented, so a random file must fail only there.
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    weights = full_size_notop("vgg19")
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        names = []
        for name, (kernel, bias) in weights.layers.items():
            block, conv = name[4], name[6]
            keras_name = f"block{block}_conv{conv}"
            names.append(keras_name)
            group = f.create_group(keras_name)
            group.attrs["weight_names"] = [f"{keras_name}/kernel:0", f"{keras_name}/bias:0"]
            group[f"{keras_name}/kernel:0"] = kernel
            group[f"{keras_name}/bias:0"] = bias
        f.attrs["layer_names"] = names

    assert main(["weights", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    for check in ("format", "arch", "layers", "no top", "shapes"):
        assert f"ok   {check}" in out
    assert "FAIL md5" in out and "253f8cb515780f3b799900260a226db6" in out
    assert "not documented, not checked: size, sha1, sha256" in out


def test_verify_checks_documented_checksum_from_custom_manifest(tmp_path, capsys):
    path = npy_file(tmp_path / "mine.npy", full_size_notop("vgg16"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {"files": [{"name": "mine.npy", "format": "npy", "arch": "vgg16",
                           "content": "notop", "url": None, "size": path.stat().st_size,
                           "md5": None, "sha1": None, "sha256": digest}]}
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    assert main(["weights", "verify", str(path), "--manifest", str(manifest_path)]) == 0
    out = capsys.readouterr().out
    assert f"ok   sha256       {digest}" in out and "ok   size" in out


def test_verify_refuses_narrow_or_renamed_files(tmp_path, capsys):
    narrow = npy_file(tmp_path / "vgg16.npy", random_weights("vgg16", width=1 / 16))
    assert main(["weights", "verify", str(narrow)]) == 1
    assert "FAIL shapes" in capsys.readouterr().out
    renamed = npy_file(tmp_path / "my_vgg.npy", random_weights("vgg16", width=1 / 16))
    assert main(["weights", "verify", str(renamed)]) == 1
    assert "'my_vgg.npy' is not a published file" in capsys.readouterr().err


def test_manifest_lists_the_published_files_and_invents_no_checksum():
    entries = load_manifest()
    names = {entry["name"] for entry in entries}
    assert {"vgg16.npy", "vgg19.npy", "imagenet-vgg-verydeep-16.mat",
            "imagenet-vgg-verydeep-19.mat", "vgg_16.ckpt", "vgg_19.ckpt",
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "VGG_ILSVRC_16_layers.caffemodel", "VGG_ILSVRC_19_layers.caffemodel",
            "fcn32s-heavy-pascal.caffemodel", "fcn16s-heavy-pascal.caffemodel",
            "fcn8s-heavy-pascal.caffemodel", "fcn8s-atonce-pascal.caffemodel"} <= names
    for entry in entries:
        documented = [k for k in ("size", "md5", "sha1", "sha256") if entry[k] is not None]
        assert bool(documented) == bool(entry["checksum_source"]), entry["name"]


def test_packaged_manifest_is_the_source_manifest():
    assert SOURCE_MANIFEST == REPO / "weights" / "manifest.json"
    assert PACKAGED_MANIFEST.read_text() == SOURCE_MANIFEST.read_text()


def test_published_shapes_are_vgg():
    shapes = published_shapes("vgg16")
    assert shapes["fc6"] == (7, 7, 512, 4096) and shapes["conv1_1"] == (3, 3, 3, 64)
    assert sum(np.prod(s) for s in shapes.values()) + 4096 * 2 + 1000 + \
        sum(s[-1] for n, s in shapes.items() if n.startswith("conv")) == 138357544
