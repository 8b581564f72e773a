"""ADE20K as the MIT Scene Parsing benchmark (150 classes, or 151 with "other").

Layout under the data directory (or its ADEChallengeData2016/ sub-directory):
    images/{training,validation}/*.jpg
    annotations/{training,validation}/*.png    grayscale, 0 = other/unlabelled, 1..150 classes
By default train ids are the annotation value minus one and 0 becomes the
ignore label, as the benchmark scores it. With keep_other=true "other" is
class 0 and the train ids are the annotation values themselves (151 classes).
"""
import glob
import os

from fcn_graph.data.base import DataError, Dataset, resize_option
from fcn_graph.data.colors import voc_palette
from fcn_graph.data.labels import apply_lut, lut_from_pairs, read_index_png
from fcn_graph.data.registry import register_dataset

ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)
SPLIT_DIRS = {"train": "training", "val": "validation"}


@register_dataset("ade20k")
class ADE20K(Dataset):
    """Options: keep_other=false (150 classes, 0 ignored) or true (151 classes, "other" is 0);
    size=WIDTHxHEIGHT, or one number for a square, or None (native sizes)."""
    class_names = ADE20K_CLASSES
    colors = tuple(tuple(int(v) for v in c) for c in voc_palette(len(ADE20K_CLASSES) + 1)[1:])
    splits = tuple(SPLIT_DIRS)

    def __init__(self, data_dir, keep_other=False, size=None):
        super().__init__(data_dir)
        if not isinstance(keep_other, bool):
            raise DataError(f"ade20k: keep_other must be true or false, got {keep_other!r}")
        self.keep_other = keep_other
        self.resize_to = resize_option("ade20k", size)
        if keep_other:
            self.class_names = ("other",) + ADE20K_CLASSES
            self.colors = tuple(tuple(int(v) for v in c) for c in voc_palette(len(self.class_names)))
        shift = 0 if keep_other else 1
        self._lut = lut_from_pairs((value, value - shift) for value in range(shift, len(ADE20K_CLASSES) + 1))

    def _root(self):
        if self.data_dir is None:
            raise DataError("ade20k: no --data-dir given; point it at the directory holding ADEChallengeData2016/")
        for root in (os.path.join(self.data_dir, "ADEChallengeData2016"), self.data_dir):
            if os.path.isdir(os.path.join(root, "images")):
                return root
        raise DataError(f"ade20k: ADEChallengeData2016/images not found under {self.data_dir}; "
                        f"extract ADEChallengeData2016.zip there")

    def examples(self, split):
        self.check_split(split)
        root = self._root()
        image_dir = self.require_dir(os.path.join(root, "images", SPLIT_DIRS[split]), f"images/{SPLIT_DIRS[split]}")
        label_dir = os.path.join(root, "annotations", SPLIT_DIRS[split])
        found = []
        for image in sorted(glob.glob(os.path.join(image_dir, "*.jpg"))):
            stem = os.path.splitext(os.path.basename(image))[0]
            found.append((image, os.path.join(label_dir, stem + ".png"), stem))
        return found

    def read_label(self, path):
        return apply_lut(read_index_png(path), self._lut)
