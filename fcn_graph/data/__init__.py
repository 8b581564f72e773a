"""Segmentation datasets and their tf.data input pipeline.

Every source decodes its native label encoding to uint8 train ids in
[0, num_classes) with 255 = ignore, and lists its examples as
(image path, label path, name) so all sources share one file pipeline:

    source = get_dataset("voc2012", "/data")            # or "synthetic", "cityscapes", ...
    batches = make_dataset(source, "train", batch_size=1)

Images, in the pipeline as everywhere, are read by `read_image_rgb`; a
file that fails mid-pipeline stops `Session.run` with an OpError from which
`data_error_in` recovers a one-line DataError naming the file.

Adding a source takes one module in this package: subclass `Dataset`
(fcn_graph/data/base.py), set `class_names` and `colors`, implement
`splits`, `examples(split)` and `read_label(path)` (raise `DataError`
naming the file on bad input), and decorate the class with
`@register_dataset("name")`, and import the module below; `fcn-graph
data list` then shows it and `fcn-graph data check --dataset name`
validates a copy.
"""
from fcn_graph.data.base import IGNORE_LABEL, DataError, Dataset
from fcn_graph.data.colors import colorize, overlay, save_label_png, voc_palette
from fcn_graph.data.decode import data_error_in
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.data.pipeline import make_dataset
from fcn_graph.data.registry import available_datasets, get_dataset, parse_options, register_dataset
# The built-in sources, registered by importing them.
from fcn_graph.data import ade20k, cityscapes, folder, kitti, single_image, synthetic, voc  # noqa: E402,F401,I001


__all__ = [
    "DataError", "Dataset", "IGNORE_LABEL", "available_datasets", "colorize", "data_error_in",
    "get_dataset", "make_dataset", "overlay", "parse_options", "read_image_rgb", "register_dataset",
    "save_label_png", "voc_palette",
]
