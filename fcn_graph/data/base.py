"""The interface every dataset source implements, and the error it raises.

A source knows where its files are and how its labels are encoded. After
`read_label` every source speaks the same language: a uint8 HxW array of
train ids in [0, num_classes), with 255 marking pixels to ignore.
"""
import os

import numpy as np

from fcn_graph.errors import DataError

IGNORE_LABEL = 255
# How `resize_to` resizes images and labels: option -> {method: what it does}.
RESIZE_METHODS = {
    "image_resize": {
        "antialias": "bilinear with an antialiasing filter when shrinking",
        "bilinear": "plain bilinear, two by two source pixels per output pixel (OpenCV's and "
                    "TF1's default)",
        "nearest": "nearest neighbour (scipy.misc.imresize(interp='nearest'))",
    },
    "label_resize": {
        "nearest": "nearest neighbour: class ids are never blended",
        "bilinear": "a colour label resized bilinearly and matched exactly against classes "
                    "1 and up, as a tutorial does: a pixel whose bilinear neighbours differ, "
                    "or an ignored one, matches none and is class 0",
    },
}


class Dataset:
    """Base class of dataset sources.

    Subclasses set `name`, `class_names`, `colors` (one RGB tuple per class)
    and implement `splits`, `examples(split)` and `read_label(path)`.

    `resize_to` (height, width) asks the input pipeline to resize every
    example, images by `image_resize` and labels by `label_resize` (see
    RESIZE_METHODS; any source takes both as options); `fixed_size` is the
    size every example has once delivered (None when sizes vary), which
    allows batches larger than one without cropping.

    `training_defaults` holds training settings (TrainConfig fields) this
    source needs unless the user sets them: a single photo to memorise, for
    instance, is trained whole, without augmentation or dropout.
    """
    name = None
    class_names = ()
    colors = ()
    ignore_label = IGNORE_LABEL
    resize_to = None
    image_resize = "antialias"
    label_resize = "nearest"
    training_defaults = {}

    def __init__(self, data_dir):
        self.data_dir = None if data_dir is None else os.path.abspath(os.path.expanduser(data_dir))

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def fixed_size(self):
        return self.resize_to

    @property
    def splits(self):
        raise NotImplementedError

    def examples(self, split):
        """[(image_path, label_path, name)] of one split, in a stable order."""
        raise NotImplementedError

    def read_label(self, path):
        """The label file at `path` as uint8 HxW train ids (255 = ignore)."""
        raise NotImplementedError

    def set_resize_methods(self, **methods):
        """Set `image_resize` and/or `label_resize`, refusing a method not in RESIZE_METHODS."""
        for option, method in methods.items():
            if method not in RESIZE_METHODS.get(option, {}):
                raise DataError(f"{self.name}: {option} must be one of "
                                f"{', '.join(RESIZE_METHODS.get(option, {}))}, got {method!r}")
            setattr(self, option, method)

    def check_split(self, split):
        if split not in self.splits:
            raise DataError(f"dataset {self.name!r} has no split {split!r}; "
                            f"choose one of {', '.join(self.splits)}")

    def require_dir(self, path, what):
        """Fail with the expected layout when a directory of the source is missing."""
        if not os.path.isdir(path):
            raise DataError(f"{self.name}: {what} not found at {path}; "
                            f"point --data-dir at the directory that contains it")
        return path

    def __repr__(self):
        return f"{type(self).__name__}(data_dir={self.data_dir!r})"


def read_list_file(path, what):
    """Names from a split list file, one per line (first column), blank lines skipped."""
    if not os.path.isfile(path):
        raise DataError(f"{what} not found: {path}")
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def resize_option(name, size):
    """A source's `size` option as (height, width): None keeps the native size, one number is a square.

    On the command line `size=576x160` is WIDTHxHEIGHT and arrives here as (160, 576).
    """
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise DataError(f"{name}: size must be WIDTHxHEIGHT (e.g. size=576x160) or one number for a "
                        f"square, got {size!r}")
    return int(size[0]), int(size[1])


def fraction_option(source, value):
    """A `val_fraction` option: None, or a number strictly between 0 and 1."""
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < 1):
        raise DataError(f"{source}: val_fraction must lie between 0 and 1 (e.g. 0.1), "
                        f"got {value!r}")
    return value


def hold_out(examples, fraction, seed):
    """(kept, held out): a seeded random `fraction` of `examples` (rounded, at least one) held out.

    Both parts keep the listed order; the same examples, fraction and seed
    always hold out the same examples.
    """
    count = max(1, round(len(examples) * fraction))
    held = set(np.random.default_rng(seed).permutation(len(examples))[:count].tolist())
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])
