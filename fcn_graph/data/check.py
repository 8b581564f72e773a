"""Scan a dataset split for problems before training on it.

Checks that every image decodes, every label exists, decodes in its
source's encoding (known colours only), matches its image in size and
holds only class ids or the ignore label. Counts class pixel frequencies
and can write a few image/label overlays for a visual check.
"""
import dataclasses
import os

import numpy as np
from PIL import Image

from fcn_graph.data.base import IGNORE_LABEL, DataError
from fcn_graph.data.colors import overlay
from fcn_graph.data.labels import label_range_problem, read_image_rgb


@dataclasses.dataclass
class CheckReport:
    dataset: str
    split: str
    num_examples: int = 0
    problems: list = dataclasses.field(default_factory=list)   # (file, problem and fix)
    class_pixels: np.ndarray = None
    ignored_pixels: int = 0
    overlays: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not self.problems

    def summary(self, class_names):
        lines = [f"{self.dataset}/{self.split}: {self.num_examples} examples, {len(self.problems)} problems"]
        total = int(self.class_pixels.sum()) + self.ignored_pixels
        if total:
            lines.append("class pixel frequencies:")
            for name, count in zip(class_names, self.class_pixels):
                lines.append(f"  {name:24s} {count / total:8.4%}  ({int(count)} px)")
            lines.append(f"  {'(ignore)':24s} {self.ignored_pixels / total:8.4%}  ({self.ignored_pixels} px)")
        lines += [f"PROBLEM {path}: {problem}" for path, problem in self.problems]
        return "\n".join(lines)


def check_dataset(source, split, out_dir=None, num_overlays=4, limit=None):
    """A CheckReport of `split`; overlays of the first good examples go to out_dir."""
    report = CheckReport(source.name, split, class_pixels=np.zeros(source.num_classes, np.int64))
    examples = source.examples(split)
    if limit is not None:
        examples = examples[:limit]
    report.num_examples = len(examples)
    if not examples:
        report.problems.append((source.data_dir, f"split {split!r} has no examples; check --data-dir"))
    for image_path, label_path, name in examples:
        try:
            image = read_image_rgb(image_path)
            label = source.read_label(label_path)
        except DataError as err:
            report.problems.append((_failed_file(err, image_path, label_path), str(err)))
            continue
        if image.shape[:2] != label.shape:
            report.problems.append((label_path, f"label is {label.shape[1]}x{label.shape[0]} but its image "
                                                f"{image_path} is {image.shape[1]}x{image.shape[0]}; "
                                                f"re-export the label at the image's size"))
            continue
        problem = label_range_problem(label, source.num_classes)
        if problem:
            report.problems.append((label_path, problem))
            continue
        counts = np.bincount(label.ravel(), minlength=256)
        report.class_pixels += counts[:source.num_classes]
        report.ignored_pixels += int(counts[IGNORE_LABEL])
        if out_dir is not None and len(report.overlays) < num_overlays:
            os.makedirs(out_dir, exist_ok=True)
            path = os.path.join(out_dir, f"{name}_overlay.png")
            Image.fromarray(overlay(image, label, source.colors)).save(path)
            report.overlays.append(path)
    return report


def _failed_file(err, image_path, label_path):
    return image_path if image_path in str(err) else label_path
