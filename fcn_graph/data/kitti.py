"""KITTI road: road vs. background from the colour ground truth.

Layout under the data directory (or its data_road/ sub-directory):
    data_road/training/image_2/{um,umm,uu}_NNNNNN.png
    data_road/training/gt_image_2/{um,umm,uu}_road_NNNNNN.png
Ground-truth colours: magenta (255, 0, 255) road, red (255, 0, 0) not road,
black (0, 0, 0) unlabelled (ignored). The official test images have no
labels, so every `val_every`-th training image (sorted by name) is held out,
or, with `val_fraction`, a seeded random part of them (as the FCN-8s
tutorial splits KITTI road: a random tenth).
"""
import glob
import os

from fcn_graph.data.base import (IGNORE_LABEL, DataError, Dataset, fraction_option, hold_out,
                                 resize_option)
from fcn_graph.data.labels import read_color_png
from fcn_graph.data.registry import register_dataset

COLOR_IDS = {(255, 0, 0): 0, (255, 0, 255): 1, (0, 0, 0): IGNORE_LABEL}


@register_dataset("kitti")
class KittiRoad(Dataset):
    """Options: val_every=5 (hold out images 0, 5, 10, ... of the sorted list);
    val_fraction (e.g. 0.1: hold out that random part instead) with split_seed=0;
    size=WIDTHxHEIGHT (e.g. 576x160) or None (native, about 1242x375, varying)."""
    class_names = ("background", "road")
    colors = ((255, 0, 0), (255, 0, 255))
    splits = ("train", "val")

    def __init__(self, data_dir, val_every=5, size=None, val_fraction=None, split_seed=0):
        super().__init__(data_dir)
        if int(val_every) < 2:
            raise DataError(f"kitti: val_every must be >= 2, got {val_every!r}")
        self.val_every = int(val_every)
        self.val_fraction = fraction_option("kitti", val_fraction)
        self.split_seed = int(split_seed)
        self.resize_to = resize_option("kitti", size)

    def _training_dir(self):
        if self.data_dir is None:
            raise DataError("kitti: no --data-dir given; point it at the directory holding data_road/")
        for root in (os.path.join(self.data_dir, "data_road"), self.data_dir):
            if os.path.isdir(os.path.join(root, "training", "image_2")):
                return os.path.join(root, "training")
        raise DataError(f"kitti: data_road/training/image_2 not found under {self.data_dir}; "
                        f"extract data_road.zip there")

    def examples(self, split):
        self.check_split(split)
        training = self._training_dir()
        images = sorted(glob.glob(os.path.join(training, "image_2", "*.png")))
        if self.val_fraction is None:
            chosen = [image for index, image in enumerate(images)
                      if (index % self.val_every == 0) == (split == "val")]
        else:
            kept, held_out = hold_out(images, self.val_fraction, self.split_seed)
            chosen = held_out if split == "val" else kept
        found = []
        for image in chosen:
            stem = os.path.basename(image)[:-len(".png")]
            scene, number = stem.split("_", 1) if "_" in stem else (stem, "")
            found.append((image, os.path.join(training, "gt_image_2", f"{scene}_road_{number}.png"), stem))
        return found

    def read_label(self, path):
        return read_color_png(path, COLOR_IDS)
