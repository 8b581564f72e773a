"""KITTI road: road vs. background from the colour ground truth.

Layout under the data directory (or its data_road/ sub-directory):
    data_road/training/image_2/{um,umm,uu}_NNNNNN.png
    data_road/training/gt_image_2/{um,umm,uu}_road_NNNNNN.png
Ground-truth colours: magenta (255, 0, 255) road, red (255, 0, 0) not road,
black (0, 0, 0) unlabelled (ignored). The official test images have no
labels, so every `val_every`-th training image (sorted by name) is held out.
"""
import glob
import os

from fcn_graph.data.base import IGNORE_LABEL, DataError, Dataset, resize_option
from fcn_graph.data.labels import read_color_png
from fcn_graph.data.registry import register_dataset

COLOR_IDS = {(255, 0, 0): 0, (255, 0, 255): 1, (0, 0, 0): IGNORE_LABEL}


@register_dataset("kitti")
class KittiRoad(Dataset):
    """Options: val_every=5 (hold out images 0, 5, 10, ... of the sorted list);
    size=WIDTHxHEIGHT (e.g. 576x160) or None (native, about 1242x375, varying)."""
    class_names = ("background", "road")
    colors = ((255, 0, 0), (255, 0, 255))
    splits = ("train", "val")

    def __init__(self, data_dir, val_every=5, size=None):
        super().__init__(data_dir)
        if int(val_every) < 2:
            raise DataError(f"kitti: val_every must be >= 2, got {val_every!r}")
        self.val_every = int(val_every)
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
        found = []
        for index, image in enumerate(sorted(glob.glob(os.path.join(training, "image_2", "*.png")))):
            if (index % self.val_every == 0) != (split == "val"):
                continue
            stem = os.path.basename(image)[:-len(".png")]
            scene, number = stem.split("_", 1) if "_" in stem else (stem, "")
            found.append((image, os.path.join(training, "gt_image_2", f"{scene}_road_{number}.png"), stem))
        return found

    def read_label(self, path):
        return read_color_png(path, COLOR_IDS)
