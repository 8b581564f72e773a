"""Cityscapes fine annotations: the 19 benchmark train ids or 7 broad groups.

Layout under the data directory:
    leftImg8bit/{train,val}/CITY/*_leftImg8bit.png
    gtFine/{train,val}/CITY/*_gtFine_labelIds.png     grayscale, Cityscapes label ids
Examples are resized to `size` (height, width), 160x384 by default.
"""
import glob
import os

from fcn_graph.data.base import DataError, Dataset
from fcn_graph.data.labels import apply_lut, lut_from_pairs, read_index_png
from fcn_graph.data.registry import register_dataset

# (label id, train id) of the 19 evaluated classes; every other label id is ignored.
LABEL_ID_TO_TRAIN_ID = (
    (7, 0), (8, 1), (11, 2), (12, 3), (13, 4), (17, 5), (19, 6), (20, 7), (21, 8), (22, 9),
    (23, 10), (24, 11), (25, 12), (26, 13), (27, 14), (28, 15), (31, 16), (32, 17), (33, 18),
)
TRAIN_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
TRAIN_COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
# The 7 groups follow Cityscapes' categories (flat, construction, object,
# nature, sky, human, vehicle), built from the 19 train ids.
GROUP_CLASSES = ("road", "building", "infrastructure", "nature", "sky", "person", "vehicle")
GROUP_COLORS = ((128, 64, 128), (70, 70, 70), (220, 220, 0), (107, 142, 35), (70, 130, 180),
                (220, 20, 60), (0, 0, 142))
TRAIN_ID_TO_GROUP = (0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 6, 6, 6, 6, 6)

SPLITS = ("train", "val")


@register_dataset("cityscapes")
class Cityscapes(Dataset):
    """Options: classes=19 (benchmark train ids) or 7 (groups); size=(height, width) or None (native)."""
    splits = SPLITS
    class_names = TRAIN_CLASSES
    colors = TRAIN_COLORS

    def __init__(self, data_dir, classes=19, size=(160, 384)):
        super().__init__(data_dir)
        if classes not in (19, 7):
            raise DataError(f"cityscapes: classes must be 19 or 7, got {classes!r}")
        self.classes = classes
        self.class_names = TRAIN_CLASSES if classes == 19 else GROUP_CLASSES
        self.colors = TRAIN_COLORS if classes == 19 else GROUP_COLORS
        self.resize_to = None if size is None else (int(size[0]), int(size[1]))
        pairs = LABEL_ID_TO_TRAIN_ID if classes == 19 else [
            (label_id, TRAIN_ID_TO_GROUP[train_id]) for label_id, train_id in LABEL_ID_TO_TRAIN_ID]
        self._lut = lut_from_pairs(pairs)

    def examples(self, split):
        self.check_split(split)
        if self.data_dir is None:
            raise DataError("cityscapes: no --data-dir given; point it at the directory holding "
                            "leftImg8bit/ and gtFine/")
        image_dir = self.require_dir(os.path.join(self.data_dir, "leftImg8bit", split), f"leftImg8bit/{split}")
        label_dir = os.path.join(self.data_dir, "gtFine", split)
        found = []
        for image in sorted(glob.glob(os.path.join(image_dir, "*", "*_leftImg8bit.png"))):
            city = os.path.basename(os.path.dirname(image))
            stem = os.path.basename(image)[:-len("_leftImg8bit.png")]
            found.append((image, os.path.join(label_dir, city, stem + "_gtFine_labelIds.png"), stem))
        if not found:
            raise DataError(f"cityscapes: no *_leftImg8bit.png under {image_dir}/CITY/; "
                            f"extract leftImg8bit_trainvaltest.zip into the data directory")
        return found

    def read_label(self, path):
        return apply_lut(read_index_png(path), self._lut)

    def label_lut(self):
        return self._lut
