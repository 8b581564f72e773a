"""PASCAL VOC 2012 and the FCN reference split on SBD + VOC2011 (seg11valid).

Layout under the data directory:
    VOCdevkit/VOC2012/JPEGImages/*.jpg
    VOCdevkit/VOC2012/SegmentationClass/*.png        palette PNGs, values are class ids, 255 void
    VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val}.txt
    benchmark_RELEASE/dataset/{img/*.jpg, cls/*.mat, train.txt}   (SBD; or sbd/dataset)
    VOCdevkit/VOC2011/ImageSets/Segmentation/val.txt  (for seg11valid)
"""
import os

from fcn_graph.data.base import DataError, Dataset, read_list_file
from fcn_graph.data.colors import voc_palette
from fcn_graph.data.labels import read_index_png, read_sbd_mat
from fcn_graph.data.registry import register_dataset

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
VOC_COLORS = tuple(tuple(int(v) for v in c) for c in voc_palette(len(VOC_CLASSES)))

SBD_ROOTS = ("benchmark_RELEASE/dataset", "sbd/dataset", "SBD/dataset", "dataset")


class _VOCClasses(Dataset):
    class_names = VOC_CLASSES
    colors = VOC_COLORS

    def _voc_root(self, year="VOC2012"):
        if self.data_dir is None:
            raise DataError(f"{self.name}: no --data-dir given; point it at the directory holding VOCdevkit/")
        return self.require_dir(os.path.join(self.data_dir, "VOCdevkit", year), f"VOCdevkit/{year}")

    def _voc_examples(self, names):
        root = self._voc_root()
        return [(os.path.join(root, "JPEGImages", n + ".jpg"),
                 os.path.join(root, "SegmentationClass", n + ".png"), n) for n in names]

    def read_label(self, path):
        if path.endswith(".mat"):
            return read_sbd_mat(path)
        return read_index_png(path)


@register_dataset("voc2012")
class VOC2012(_VOCClasses):
    """VOC2012 segmentation: train (1,464) and val (1,449) from the official lists."""
    splits = ("train", "val")

    def examples(self, split):
        self.check_split(split)
        list_file = os.path.join(self._voc_root(), "ImageSets", "Segmentation", split + ".txt")
        return self._voc_examples(read_list_file(list_file, f"VOC2012 {split} list"))


@register_dataset("sbd")
class SBDReference(_VOCClasses):
    """The FCN reference split: train = SBD train (8,498, .mat labels), val = seg11valid (736).

    seg11valid is VOC2011 segmentation val minus the images of SBD train,
    read from VOC2012's files (VOC2012 holds every VOC2011 image). A shipped
    `seg11valid.txt` in VOC2012's ImageSets/Segmentation is used as is.
    """
    splits = ("train", "val")

    def _sbd_root(self):
        if self.data_dir is None:
            raise DataError("sbd: no --data-dir given; point it at the directory holding "
                            "benchmark_RELEASE/dataset (SBD) and VOCdevkit/")
        for relative in SBD_ROOTS:
            root = os.path.join(self.data_dir, relative)
            if os.path.isfile(os.path.join(root, "train.txt")):
                return root
        raise DataError(f"sbd: SBD not found under {self.data_dir}; extract benchmark.tgz there so that "
                        f"benchmark_RELEASE/dataset/train.txt, img/ and cls/ exist")

    def _sbd_train_names(self):
        return read_list_file(os.path.join(self._sbd_root(), "train.txt"), "SBD train list")

    def seg11valid_names(self):
        shipped = os.path.join(self._voc_root(), "ImageSets", "Segmentation", "seg11valid.txt")
        if os.path.isfile(shipped):
            return read_list_file(shipped, "seg11valid list")
        voc2011_val = os.path.join(self.data_dir, "VOCdevkit", "VOC2011", "ImageSets", "Segmentation", "val.txt")
        if not os.path.isfile(voc2011_val):
            raise DataError(f"sbd: seg11valid needs the VOC2011 segmentation val list at {voc2011_val} "
                            f"(from VOCtrainval_25-May-2011.tar) and SBD's train.txt; or place a "
                            f"seg11valid.txt in {os.path.dirname(shipped)}")
        sbd_train = set(self._sbd_train_names())
        return [n for n in read_list_file(voc2011_val, "VOC2011 val list") if n not in sbd_train]

    def examples(self, split):
        self.check_split(split)
        if split == "val":
            return self._voc_examples(self.seg11valid_names())
        root = self._sbd_root()
        return [(os.path.join(root, "img", n + ".jpg"), os.path.join(root, "cls", n + ".mat"), n)
                for n in self._sbd_train_names()]
