"""Tiny datasets in each source's real directory layout, written by tests.

Every writer takes a root directory, writes a few small images with known
labels and returns the data directory to pass to `get_dataset`.
`EXPECTED` labels are the train ids each source must decode.
"""
import json
import os

import numpy as np
from PIL import Image
from scipy.io import savemat

from fcn_graph.data.colors import save_label_png, voc_palette

HEIGHT, WIDTH = 6, 8


def _image(seed, height=HEIGHT, width=WIDTH):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(path, array, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def _write_list(path, names):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(n + "\n" for n in names))


def stripes(values, height=HEIGHT, width=WIDTH):
    """A label whose columns cycle through `values`."""
    return np.resize(np.asarray(values, np.uint8), width)[None, :].repeat(height, axis=0)


def write_voc(root):
    """VOC2012 (train 2, val 2), VOC2011 val list (3) and SBD (train 2, one shared with VOC2011 val)."""
    voc = os.path.join(root, "VOCdevkit", "VOC2012")
    names = ["2007_000001", "2007_000002", "2007_000003", "2007_000004"]
    for i, name in enumerate(names):
        _save(os.path.join(voc, "JPEGImages", name + ".jpg"), _image(i), quality=95)
        os.makedirs(os.path.join(voc, "SegmentationClass"), exist_ok=True)
        save_label_png(os.path.join(voc, "SegmentationClass", name + ".png"), stripes([0, i + 1, 255]), voc_palette())
    _write_list(os.path.join(voc, "ImageSets", "Segmentation", "train.txt"), names[:2])
    _write_list(os.path.join(voc, "ImageSets", "Segmentation", "val.txt"), names[2:])
    _write_list(os.path.join(root, "VOCdevkit", "VOC2011", "ImageSets", "Segmentation", "val.txt"), names[1:])
    sbd = os.path.join(root, "benchmark_RELEASE", "dataset")
    for i, name in enumerate(["2008_000010", names[2]]):
        _save(os.path.join(sbd, "img", name + ".jpg"), _image(10 + i), quality=95)
        os.makedirs(os.path.join(sbd, "cls"), exist_ok=True)
        savemat(os.path.join(sbd, "cls", name + ".mat"),
                {"GTcls": {"Segmentation": stripes([0, 15, 20]), "CategoriesPresent": np.array([15, 20])}})
    _write_list(os.path.join(sbd, "train.txt"), ["2008_000010", names[2]])
    return root


# Cityscapes colours of the label ids the fixture uses, as in gtFine_color.png.
CITYSCAPES_COLORS = {7: (128, 64, 128), 26: (0, 0, 142), 0: (0, 0, 0), 24: (220, 20, 60)}


def write_cityscapes(root, num_train=2):
    """`num_train` train and one val image; labels use label ids 7 (road), 26 (car),
    0 (unlabelled), 24 (person), as label-id PNGs and as RGBA colour PNGs."""
    ids = stripes([7, 26, 0, 24])
    colours = np.zeros(ids.shape + (4,), np.uint8)
    colours[..., 3] = 255
    for label_id, colour in CITYSCAPES_COLORS.items():
        colours[ids == label_id, :3] = colour
    for split, city, count in (("train", "aachen", num_train), ("val", "lindau", 1)):
        for i in range(count):
            stem = f"{city}_{i:06d}_000019"
            _save(os.path.join(root, "leftImg8bit", split, city, stem + "_leftImg8bit.png"), _image(20 + i))
            _save(os.path.join(root, "gtFine", split, city, stem + "_gtFine_labelIds.png"), ids)
            _save(os.path.join(root, "gtFine", split, city, stem + "_gtFine_color.png"), colours)
    return root


def write_kitti(root, count=5):
    """`count` training images with magenta road, red background and a black (void) column."""
    training = os.path.join(root, "data_road", "training")
    gt = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    gt[:, :3] = (255, 0, 0)
    gt[:, 3:7] = (255, 0, 255)
    for i in range(count):
        _save(os.path.join(training, "image_2", f"um_{i:06d}.png"), _image(30 + i))
        _save(os.path.join(training, "gt_image_2", f"um_road_{i:06d}.png"), gt)
        _save(os.path.join(training, "gt_image_2", f"um_lane_{i:06d}.png"), gt)
    return root


def write_ade20k(root):
    """One training, one validation image; annotations 0 (other), 1 (wall), 150 (flag)."""
    base = os.path.join(root, "ADEChallengeData2016")
    for split, stem in (("training", "ADE_train_00000001"), ("validation", "ADE_val_00000001")):
        _save(os.path.join(base, "images", split, stem + ".jpg"), _image(40), quality=95)
        _save(os.path.join(base, "annotations", split, stem + ".png"), stripes([0, 1, 150]))
    return root


FOLDER_CLASSES = {"classes": ["background", "thing", "stuff"],
                  "colors": [[0, 0, 0], [255, 0, 0], [0, 255, 0]], "ignore_color": [255, 255, 255]}


def write_folder(root, colour_labels=False, split_files=False):
    """images/ + labels/ with classes.json; splits by sub-folder or by splits/*.txt."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "classes.json"), "w") as f:
        json.dump(FOLDER_CLASSES, f)
    palette = np.array(FOLDER_CLASSES["colors"] + [[255, 255, 255]], np.uint8)
    for split, count in (("train", 2), ("val", 1)):
        names = [f"{split}{i}" for i in range(count)]
        sub = "" if split_files else split
        for i, name in enumerate(names):
            _save(os.path.join(root, "images", sub, name + ".png"), _image(50 + i))
            label = stripes([0, 1, 2, 255])
            path = os.path.join(root, "labels", sub, name + ".png")
            if colour_labels:
                _save(path, palette[np.where(label == 255, 3, label)])
            else:
                _save(path, label)
        if split_files:
            _write_list(os.path.join(root, "splits", split + ".txt"), names)
    return root


EXPECTED = {
    "voc2012": stripes([0, 1, 255]),
    "cityscapes": stripes([0, 13, 255, 11]),
    "kitti": np.where(np.arange(WIDTH) < 3, 0, np.where(np.arange(WIDTH) < 7, 1, 255)).astype(np.uint8)[None].repeat(HEIGHT, 0),
    "ade20k": stripes([255, 0, 149]),
    "folder": stripes([0, 1, 2, 255]),
}
WRITERS = {"voc2012": write_voc, "sbd": write_voc, "cityscapes": write_cityscapes, "kitti": write_kitti,
           "ade20k": write_ade20k, "folder": write_folder}
