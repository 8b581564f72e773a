"""The list of published weight files, and checking a user's copy against it.

The list lives in `weights/manifest.json` at the top of a source checkout,
with a packaged copy in `fcn_graph/assets/` for installed copies. A file
is matched to an entry by its name; it is then checked for what the entry
records: its format, depth and layers always, and its size and checksums
only where those were documented by the publisher (null otherwise).
"""
import hashlib
import json
import os
from pathlib import Path

from fcn_graph.architecture import BLOCK_CHANNELS, FC6_SIZE, FC_CHANNELS, REPEATS, conv_layer_names
from fcn_graph.fcn import VARIANTS, upsample_names
from fcn_graph.weights.load import detect_format, load_weights
from fcn_graph.weights.model import WeightsError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SOURCE_MANIFEST = PACKAGE_DIR.parent / "weights" / "manifest.json"
PACKAGED_MANIFEST = PACKAGE_DIR / "assets" / "weights_manifest.json"
CHECKSUMS = ("md5", "sha1", "sha256")
IMAGENET_CLASSES = 1000


def manifest_path():
    return SOURCE_MANIFEST if SOURCE_MANIFEST.exists() else PACKAGED_MANIFEST


def load_manifest(path=None):
    """The manifest's entries: dicts with name, format, arch, content, url, size, checksums."""
    path = Path(path) if path else manifest_path()
    with open(path) as f:
        return json.load(f)["files"]


def find_entry(entries, path, name=None):
    wanted = name or os.path.basename(os.path.normpath(str(path)))
    for entry in entries:
        if entry["name"] == wanted:
            return entry
    raise WeightsError(f"{path}: {wanted!r} is not a published file the manifest knows; pass "
                       f"--name with one of: {', '.join(e['name'] for e in entries)}")


def expected_layers(content, arch):
    """Layers a file of this content must hold."""
    convs = conv_layer_names(arch)
    if content == "notop":
        return convs
    if content == "classifier":
        return convs + ["fc6", "fc7", "fc8"]
    spec = VARIANTS[content]
    twos, final = upsample_names(spec)
    return (convs + ["fc6", "fc7", "score_fr"]
            + [f"score_{skip.source}" for skip in spec.skips] + twos + [final])


def published_shapes(arch):
    """Kernel shapes of the full-size ImageNet VGG, backbone and fc8."""
    shapes, channels = {}, 3
    for block, (repeats, out) in enumerate(zip(REPEATS[arch], BLOCK_CHANNELS), start=1):
        for i in range(1, repeats + 1):
            shapes[f"conv{block}_{i}"], channels = (3, 3, channels, out), out
    shapes["fc6"] = (FC6_SIZE, FC6_SIZE, channels, FC_CHANNELS)
    shapes["fc7"] = (1, 1, FC_CHANNELS, FC_CHANNELS)
    shapes["fc8"] = (1, 1, FC_CHANNELS, IMAGENET_CLASSES)
    return shapes


def file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path, entry):
    """[(check, passed, detail)] for `path` against a manifest entry."""
    path = str(path)
    checks = []
    found = detect_format(path)
    checks.append(("format", found == entry["format"], f"{found} (expected {entry['format']})"))
    try:
        weights = load_weights(path, arch=entry["arch"])
    except WeightsError as err:
        return checks + [("load", False, str(err))]
    checks.append(("arch", True, weights.arch))
    wanted = expected_layers(entry["content"], entry["arch"])
    absent = [name for name in wanted if name not in weights.layers]
    checks.append(("layers", not absent, "all present" if not absent
                   else f"missing {', '.join(absent)}"))
    if entry["content"] == "notop":
        extra = [name for name in ("fc6", "fc7", "fc8") if name in weights.layers]
        checks.append(("no top", not extra, "none" if not extra else ", ".join(extra)))
    wrong = [f"{name} {weights.layers[name][0].shape}"
             for name, shape in published_shapes(entry["arch"]).items()
             if name in weights.layers and weights.layers[name][0].shape != shape]
    checks.append(("shapes", not wrong, "as published" if not wrong
                   else f"differ: {', '.join(wrong)}"))
    # Sizes and checksums of a tarball say nothing about the checkpoint unpacked from it.
    if os.path.isfile(path) and not entry.get("archive"):
        if entry.get("size") is not None:
            size = os.path.getsize(path)
            checks.append(("size", size == entry["size"], f"{size} (expected {entry['size']})"))
        for algorithm in CHECKSUMS:
            if entry.get(algorithm):
                digest = file_digest(path, algorithm)
                checks.append((algorithm, digest == entry[algorithm],
                               f"{digest} (expected {entry[algorithm]})"))
    return checks
