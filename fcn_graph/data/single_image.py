"""One real photo with a hand-made mask, for overfitting demos.

Two of scikit-image's sample photos ship with masks in the VOC classes, so
VOC-trained weights apply: `astronaut` (person 15; the default, whose
silhouette has the corners and narrow parts that separate FCN-32s from
FCN-8s) and `chelsea`, the tutorials' cat (cat 8). `fcn_graph/assets/README.md`
says how each mask was made. Both splits hold the same single example:
the point is to overfit it. `size` (height, width) resizes it.

`two_class=true` keeps two classes, the photo's object (1) against
everything else (0, void pixels included), as the single-image FCN-32s
tutorial trains its cat: a mask value equal to the object's marks it, any
other value is background.
"""
import os

import numpy as np

from fcn_graph.data.base import Dataset, DataError, resize_option
from fcn_graph.data.labels import read_index_png
from fcn_graph.data.registry import register_dataset
from fcn_graph.data.voc import VOC_CLASSES, VOC_COLORS

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
# photo name -> native (height, width)
PHOTOS = {"astronaut": (512, 512), "chelsea": (300, 451)}
# photo name -> the VOC class its mask marks
OBJECTS = {"astronaut": 15, "chelsea": 8}


def photo_paths(photo):
    return os.path.join(ASSETS, f"{photo}.png"), os.path.join(ASSETS, f"{photo}_mask.png")


@register_dataset("single_image")
class SingleImage(Dataset):
    class_names = VOC_CLASSES
    colors = VOC_COLORS
    splits = ("train", "val")
    # Memorising one photo: the whole image every step, nothing random.
    training_defaults = {"crop_size": None, "batch_size": 1, "augment": False,
                         "dropout_rate": 0.0, "max_steps": 150}

    def __init__(self, data_dir=None, photo="astronaut", size=None, two_class=False):
        super().__init__(data_dir or ASSETS)
        if photo not in PHOTOS:
            raise DataError(f"single_image has no photo {photo!r}; choose one of {sorted(PHOTOS)}")
        if not isinstance(two_class, bool):
            raise DataError(f"single_image: two_class must be true or false, got {two_class!r}")
        self.photo = photo
        self.two_class = two_class
        self.resize_to = resize_option("single_image", size)
        if two_class:
            kept = (0, OBJECTS[photo])
            self.class_names = tuple(VOC_CLASSES[i] for i in kept)
            self.colors = tuple(VOC_COLORS[i] for i in kept)

    @property
    def fixed_size(self):
        return self.resize_to or PHOTOS[self.photo]

    def examples(self, split):
        self.check_split(split)
        return [(*photo_paths(self.photo), self.photo)]

    def read_label(self, path):
        label = read_index_png(path)
        if self.two_class:
            return (label == OBJECTS[self.photo]).astype(np.uint8)
        return label
