"""Cityscapes fine annotations: the 19 benchmark train ids, 7 broad groups or 29 colour classes.

Layout under the data directory:
    leftImg8bit/{train,val}/CITY/*_leftImg8bit.png
    gtFine/{train,val}/CITY/*_gtFine_labelIds.png     grayscale, Cityscapes label ids
    gtFine/{train,val}/CITY/*_gtFine_color.png        colour PNG (read for classes=29)
Examples are resized to `size` (height, width), 160x384 by default.
"""
import glob
import os

from fcn_graph.data.base import DataError, Dataset, fraction_option, hold_out, resize_option
from fcn_graph.data.labels import apply_lut, lut_from_pairs, read_color_png, read_index_png
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

# The distinct colours of gtFine_color.png, every one a class (unlabelled pixels too).
# Cityscapes paints several labels alike: black covers unlabeled, ego vehicle,
# rectification border, out of roi and static; pole covers polegroup; car covers
# license plate.
COLOR_CLASSES = (
    ("unlabeled", (0, 0, 0)), ("dynamic", (111, 74, 0)), ("ground", (81, 0, 81)),
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("parking", (250, 170, 160)),
    ("rail track", (230, 150, 140)), ("building", (70, 70, 70)), ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)), ("guard rail", (180, 165, 180)), ("bridge", (150, 100, 100)),
    ("tunnel", (150, 120, 90)), ("pole", (153, 153, 153)), ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)), ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)), ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("caravan", (0, 0, 90)), ("trailer", (0, 0, 110)),
    ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
)
LABEL_SUFFIXES = {19: "_gtFine_labelIds.png", 7: "_gtFine_labelIds.png", 29: "_gtFine_color.png"}

SPLITS = ("train", "val")
# With val_fraction, "val" is held out of the official train split and the official
# val split stays available under this name.
OFFICIAL_VAL = "official_val"


@register_dataset("cityscapes")
class Cityscapes(Dataset):
    """Options: classes=19 (benchmark train ids), 7 (groups) or 29 (colours of gtFine_color.png);
    size=WIDTHxHEIGHT or None (native); val_fraction (e.g. 0.1: "val" is that random part of
    the official train split, which "train" then lacks, and the official val split becomes
    "official_val"), drawn with split_seed."""
    class_names = TRAIN_CLASSES
    colors = TRAIN_COLORS

    def __init__(self, data_dir, classes=19, size=(160, 384), val_fraction=None, split_seed=0):
        super().__init__(data_dir)
        if classes not in LABEL_SUFFIXES:
            raise DataError(f"cityscapes: classes must be 19, 7 or 29, got {classes!r}")
        self.classes = classes
        self.val_fraction = fraction_option("cityscapes", val_fraction)
        self.split_seed = int(split_seed)
        self.resize_to = resize_option("cityscapes", size)
        if classes == 29:
            self.class_names = tuple(name for name, _ in COLOR_CLASSES)
            self.colors = tuple(color for _, color in COLOR_CLASSES)
            self._color_ids = {color: i for i, (_, color) in enumerate(COLOR_CLASSES)}
            return
        self.class_names = TRAIN_CLASSES if classes == 19 else GROUP_CLASSES
        self.colors = TRAIN_COLORS if classes == 19 else GROUP_COLORS
        pairs = LABEL_ID_TO_TRAIN_ID if classes == 19 else [
            (label_id, TRAIN_ID_TO_GROUP[train_id]) for label_id, train_id in LABEL_ID_TO_TRAIN_ID]
        self._lut = lut_from_pairs(pairs)

    @property
    def splits(self):
        return SPLITS if self.val_fraction is None else SPLITS + (OFFICIAL_VAL,)

    def examples(self, split):
        self.check_split(split)
        if self.val_fraction is None:
            return self._official_examples(split)
        if split == OFFICIAL_VAL:
            return self._official_examples("val")
        kept, held_out = hold_out(self._official_examples("train"), self.val_fraction, self.split_seed)
        return kept if split == "train" else held_out

    def _official_examples(self, split):
        if self.data_dir is None:
            raise DataError("cityscapes: no --data-dir given; point it at the directory holding "
                            "leftImg8bit/ and gtFine/")
        image_dir = self.require_dir(os.path.join(self.data_dir, "leftImg8bit", split), f"leftImg8bit/{split}")
        label_dir = os.path.join(self.data_dir, "gtFine", split)
        suffix = LABEL_SUFFIXES[self.classes]
        found = []
        for image in sorted(glob.glob(os.path.join(image_dir, "*", "*_leftImg8bit.png"))):
            city = os.path.basename(os.path.dirname(image))
            stem = os.path.basename(image)[:-len("_leftImg8bit.png")]
            found.append((image, os.path.join(label_dir, city, stem + suffix), stem))
        if not found:
            raise DataError(f"cityscapes: no *_leftImg8bit.png under {image_dir}/CITY/; "
                            f"extract leftImg8bit_trainvaltest.zip into the data directory")
        return found

    def read_label(self, path):
        if self.classes == 29:
            return read_color_png(path, self._color_ids)
        return apply_lut(read_index_png(path), self._lut)
