"""Any image/label folder pair described by a class file.

Layout under the data directory:
    classes.json          {"classes": [...], "colors": [[r, g, b], ...],
                           "ignore_color": [r, g, b] (optional), "ignore_index": 255 (optional)}
    images/SPLIT/*.jpg|png   and   labels/SPLIT/<same name>.png       (splits by sub-folder)
or  images/*, labels/*    and   splits/SPLIT.txt (one image name per line, no extension)
Labels are index PNGs (grayscale or palette; `ignore_index` means ignore)
or colour PNGs (RGB) mapped through `colors`, `ignore_color` meaning ignore.
Option: size=WIDTHxHEIGHT (or one number for a square) resizes every example.
"""
import glob
import json
import os

import numpy as np

from fcn_graph.data.base import IGNORE_LABEL, DataError, Dataset, read_list_file, resize_option
from fcn_graph.data.colors import parse_color
from fcn_graph.data.labels import open_image, read_color_png, read_index_png
from fcn_graph.data.registry import register_dataset

CONFIG = "classes.json"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


@register_dataset("folder")
class Folder(Dataset):

    def __init__(self, data_dir, size=None):
        if data_dir is None:
            raise DataError("folder: no --data-dir given; point it at a directory with "
                            f"{CONFIG}, images/ and labels/")
        super().__init__(data_dir)
        config_path = os.path.join(self.data_dir, CONFIG)
        config = self._read_config(config_path)
        self.class_names = tuple(config["classes"])
        self.colors = tuple(parse_color(c, config_path) for c in config["colors"])
        self.ignore_index = int(config.get("ignore_index", IGNORE_LABEL))
        self._color_ids = {color: i for i, color in enumerate(self.colors)}
        if "ignore_color" in config:
            self._color_ids[parse_color(config["ignore_color"], config_path)] = IGNORE_LABEL
        self._split_files = sorted(glob.glob(os.path.join(self.data_dir, "splits", "*.txt")))
        self.resize_to = resize_option("folder", size)

    @staticmethod
    def _read_config(path):
        if not os.path.isfile(path):
            raise DataError(f"folder: {path} missing; write it as "
                            '{"classes": ["background", ...], "colors": [[0, 0, 0], ...]}')
        try:
            with open(path) as f:
                config = json.load(f)
        except json.JSONDecodeError as err:
            raise DataError(f"folder: {path} is not valid JSON ({err})") from err
        if not isinstance(config.get("classes"), list) or not isinstance(config.get("colors"), list) \
                or len(config["classes"]) != len(config["colors"]):
            raise DataError(f"folder: {path} needs lists 'classes' and 'colors' of equal length")
        return config

    @property
    def splits(self):
        if self._split_files:
            return tuple(os.path.splitext(os.path.basename(p))[0] for p in self._split_files)
        image_root = self.require_dir(os.path.join(self.data_dir, "images"), "images/")
        found = tuple(sorted(d for d in os.listdir(image_root) if os.path.isdir(os.path.join(image_root, d))))
        if not found:
            raise DataError(f"folder: no splits under {self.data_dir}; put images in images/train/ and "
                            f"images/val/, or list names in splits/train.txt and splits/val.txt")
        return found

    def examples(self, split):
        self.check_split(split)
        if self._split_files:
            image_dir, label_dir = (os.path.join(self.data_dir, d) for d in ("images", "labels"))
            names = read_list_file(os.path.join(self.data_dir, "splits", split + ".txt"), f"split list {split}")
            images = [self._image_path(image_dir, n) for n in names]
        else:
            image_dir, label_dir = (os.path.join(self.data_dir, d, split) for d in ("images", "labels"))
            images = sorted(p for p in glob.glob(os.path.join(image_dir, "*"))
                            if p.lower().endswith(IMAGE_EXTENSIONS))
        stems = [os.path.splitext(os.path.basename(p))[0] for p in images]
        return [(image, os.path.join(label_dir, stem + ".png"), stem) for image, stem in zip(images, stems)]

    @staticmethod
    def _image_path(image_dir, name):
        for extension in IMAGE_EXTENSIONS:
            path = os.path.join(image_dir, name + extension)
            if os.path.isfile(path):
                return path
        return os.path.join(image_dir, name + IMAGE_EXTENSIONS[0])

    def read_label(self, path):
        if open_image(path, "label").mode in ("RGB", "RGBA"):
            return read_color_png(path, self._color_ids)
        values = read_index_png(path)
        return np.where(values == self.ignore_index, IGNORE_LABEL, values).astype(np.uint8)
