"""One real photo with a hand-made mask, for overfitting demos.

The photo is scikit-image's `chelsea` (a cat); its mask uses the VOC
classes (background 0, cat 8, 21 classes) so VOC-trained weights apply.
Both splits hold the same single example: the point is to overfit it.
"""
import os

from fcn_graph.data.base import Dataset
from fcn_graph.data.labels import read_index_png
from fcn_graph.data.registry import register_dataset
from fcn_graph.data.voc import VOC_CLASSES, VOC_COLORS

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
IMAGE = os.path.join(ASSETS, "chelsea.png")
MASK = os.path.join(ASSETS, "chelsea_mask.png")


@register_dataset("single_image")
class SingleImage(Dataset):
    class_names = VOC_CLASSES
    colors = VOC_COLORS
    splits = ("train", "val")

    def __init__(self, data_dir=None):
        super().__init__(data_dir or ASSETS)

    @property
    def fixed_size(self):
        return (300, 451)

    def examples(self, split):
        self.check_split(split)
        return [(IMAGE, MASK, "chelsea")]

    def read_label(self, path):
        return read_index_png(path)
