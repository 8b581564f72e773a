"""Synthetic street scenes: a built-in dataset that needs no download.

Each image is drawn from its own seed (dataset seed, split, index), so a
scene is the same on every machine and the validation scenes never occur in
training. Classes differ by texture, shape and position as much as by
colour: building and vehicle colours overlap, the road's grey occurs in
buildings and cars, and lighting, colour casts and sensor noise vary per
image, so a single pixel's colour is not enough to classify it.

Scenes are written as PNGs (palette labels) under the data directory, by
default ~/.cache/fcn-graph/synthetic/HxW-seedS, when the source is created
(only missing files are drawn), so the dataset flows through the same file
pipeline as real ones; listing a split touches no file.
"""
import os

import numpy as np
from PIL import Image
from scipy import ndimage

from fcn_graph.data.base import Dataset
from fcn_graph.data.colors import save_label_png
from fcn_graph.data.labels import read_index_png
from fcn_graph.data.registry import register_dataset

SKY, BUILDING, ROAD, VEGETATION, VEHICLE, PERSON = range(6)
CLASS_NAMES = ("sky", "building", "road", "vegetation", "vehicle", "person")
CLASS_COLORS = ((70, 130, 180), (70, 70, 70), (128, 64, 128), (107, 142, 35), (0, 0, 142), (220, 20, 60))
SPLIT_CODES = {"train": 0, "val": 1}

# Shared paint colours: facades and car bodies draw from one list on purpose.
PAINTS = np.array([(150, 60, 50), (190, 170, 140), (120, 120, 125), (200, 200, 195), (90, 70, 60),
                   (40, 60, 120), (170, 40, 40), (60, 60, 65), (220, 190, 60), (110, 130, 150)], np.float32)
SKIN = np.array([(230, 190, 160), (200, 150, 110), (140, 95, 70), (95, 65, 50)], np.float32)


def smooth_noise(rng, shape, cells):
    """Value noise in [-1, 1]: a coarse random grid, bilinearly enlarged to `shape`."""
    height, width = shape
    grid = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
    zoomed = ndimage.zoom(grid, (height / cells, width / cells), order=1, mode="nearest")
    return zoomed[:height, :width]


class _Canvas:
    """An RGB albedo image and its label map, painted back to front."""

    def __init__(self, height, width):
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.height, self.width = height, width

    def paint(self, mask, color, class_id):
        self.rgb[mask] = color[mask] if np.ndim(color) == 3 else color
        self.label[mask] = class_id


def draw_scene(rng, height, width):
    """(uint8 HxWx3 image, uint8 HxW label) of one random street scene."""
    canvas = _Canvas(height, width)
    y = canvas.y
    horizon = rng.uniform(0.35, 0.6) * height

    top, low = rng.uniform([40, 90, 160], [130, 170, 235]), rng.uniform([150, 170, 190], [235, 225, 235])
    t = np.clip(y / max(horizon, 1), 0, 1)[..., None]
    clouds = np.clip(smooth_noise(rng, (height, width), 4) * rng.uniform(0.5, 1.5), 0, 1)[..., None]
    sky = (1 - t) * top + t * low
    canvas.paint(np.ones((height, width), bool), sky + clouds * (245 - sky), SKY)

    _draw_buildings(rng, canvas, horizon)
    for _ in range(rng.integers(0, 4)):
        _draw_tree(rng, canvas, horizon)
    _draw_ground(rng, canvas, horizon)

    objects = [(_draw_vehicle, rng.uniform(horizon + 0.12 * height, height * 1.05))
               for _ in range(rng.integers(1, 4))]
    objects += [(_draw_person, rng.uniform(horizon + 0.1 * height, height * 1.02))
                for _ in range(rng.integers(1, 4))]
    for draw, bottom in sorted(objects, key=lambda item: item[1]):
        draw(rng, canvas, horizon, bottom)

    light = rng.uniform(0.6, 1.25) * rng.uniform(0.85, 1.15, 3)
    shade = 1 + 0.25 * smooth_noise(rng, (height, width), 3)[..., None]
    image = canvas.rgb * light * shade + rng.normal(0, rng.uniform(3, 12), canvas.rgb.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), canvas.label


def _draw_buildings(rng, canvas, horizon):
    height, width = canvas.height, canvas.width
    y, x = canvas.y, canvas.x
    left = rng.uniform(-0.1, 0.1) * width
    while left < width:
        span = rng.uniform(0.12, 0.4) * width
        if rng.uniform() < 0.8:
            roof = rng.uniform(0.0, 0.85) * horizon
            base = horizon + rng.uniform(0.0, 0.05) * height
            mask = (x >= left) & (x < left + span) & (y >= roof) & (y < base)
            wall = PAINTS[rng.integers(len(PAINTS))] * rng.uniform(0.8, 1.1)
            period_x, period_y = rng.uniform(4, 10, 2) * width / 128
            window = ((np.mod(x - left, period_x) < 0.55 * period_x)
                      & (np.mod(y - roof, period_y) < 0.5 * period_y))
            glass = rng.uniform([20, 30, 40], [90, 110, 140])
            color = np.where(window[..., None], glass, wall) + rng.normal(0, 6, canvas.rgb.shape)
            canvas.paint(mask, color, BUILDING)
        left += span + rng.uniform(0, 0.08) * width


def _draw_tree(rng, canvas, horizon):
    height, width = canvas.height, canvas.width
    y, x = canvas.y, canvas.x
    center_x = rng.uniform(0, width)
    size = rng.uniform(0.08, 0.2) * height
    mask = np.zeros((height, width), bool)
    for _ in range(rng.integers(2, 5)):
        cx, cy = center_x + rng.normal(0, size * 0.6), horizon - size * rng.uniform(0.5, 1.6)
        mask |= (x - cx) ** 2 + (y - cy) ** 2 < (size * rng.uniform(0.6, 1.0)) ** 2
    canvas.paint(mask, _foliage(rng, canvas), VEGETATION)


def _foliage(rng, canvas):
    """Green (sometimes autumn) with strong fine-grained texture."""
    base = rng.uniform([40, 80, 20], [110, 150, 60]) if rng.uniform() < 0.8 else rng.uniform(
        [120, 90, 20], [170, 130, 50])
    grain = rng.normal(0, 1, (canvas.height, canvas.width))
    grain = ndimage.uniform_filter(grain, 2) * 55
    return base + grain[..., None] * np.array([0.7, 1.0, 0.5])


def _draw_ground(rng, canvas, horizon):
    height, width = canvas.height, canvas.width
    y, x = canvas.y, canvas.x
    below = y >= horizon
    canvas.paint(below, _foliage(rng, canvas), VEGETATION)
    vanish = rng.uniform(0.3, 0.7) * width
    half_top, half_bottom = rng.uniform(0.02, 0.1) * width, rng.uniform(0.45, 0.9) * width
    depth = np.clip((y - horizon) / max(height - horizon, 1), 0, 1)
    half = half_top + depth * (half_bottom - half_top)
    road = below & (np.abs(x - vanish) < half)
    grey = rng.uniform(60, 130)
    asphalt = grey + rng.normal(0, 4, (height, width)) + 10 * smooth_noise(rng, (height, width), 8)
    color = np.repeat(asphalt[..., None], 3, axis=2) * np.array([1.0, 1.0, rng.uniform(1.0, 1.08)])
    dash = np.mod(np.sqrt(depth + 1e-3) * 12, 1) < 0.5
    marking = road & dash & (np.abs(x - vanish) < 0.015 * width + depth * 0.02 * width)
    color[marking] = rng.uniform(200, 250) * np.array([1.0, 1.0, rng.choice([1.0, 0.5])])
    canvas.paint(road, color, ROAD)


def _draw_vehicle(rng, canvas, horizon, bottom):
    height = canvas.height
    y, x = canvas.y, canvas.x
    scale = (bottom - horizon) / max(height - horizon, 1)
    car_w = canvas.width * rng.uniform(0.3, 0.5) * (0.5 + 0.5 * scale)
    car_h = car_w * rng.uniform(0.45, 0.7)
    left = rng.uniform(-0.1 * canvas.width, canvas.width - 0.8 * car_w)
    top = bottom - car_h
    rel_y, rel_x = (y - top) / car_h, (x - left) / car_w
    body = (rel_x >= 0) & (rel_x < 1) & (rel_y >= 0.35) & (rel_y < 0.9)
    cabin = (rel_y >= 0) & (rel_y < 0.35) & (rel_x >= 0.18 + 0.12 * (0.35 - rel_y)) & (rel_x < 0.85 - 0.12 * (0.35 - rel_y))
    wheels = (((rel_x - 0.2) * car_w) ** 2 + ((rel_y - 0.88) * car_h) ** 2 < (0.12 * car_h) ** 2) | \
             (((rel_x - 0.8) * car_w) ** 2 + ((rel_y - 0.88) * car_h) ** 2 < (0.12 * car_h) ** 2)
    paint = PAINTS[rng.integers(len(PAINTS))] * rng.uniform(0.9, 1.15)
    color = np.where(cabin[..., None] & (rel_y[..., None] > 0.06), rng.uniform(20, 60, 3), paint)
    color = color + 40 * np.clip(0.5 - np.abs(rel_y - 0.45), 0, 1)[..., None]
    color = np.where(wheels[..., None], np.float32(25), color)
    canvas.paint(body | cabin | wheels, color, VEHICLE)


def _draw_person(rng, canvas, horizon, bottom):
    height = canvas.height
    y, x = canvas.y, canvas.x
    scale = (bottom - horizon) / max(height - horizon, 1)
    tall = height * rng.uniform(0.35, 0.55) * (0.5 + 0.5 * scale)
    center = rng.uniform(0.05, 0.95) * canvas.width
    top = bottom - tall
    rel_y, rel_x = (y - top) / tall, (x - center) / tall
    head = rel_x ** 2 + (rel_y - 0.08) ** 2 < 0.075 ** 2
    torso = (rel_y >= 0.15) & (rel_y < 0.55) & (np.abs(rel_x) < 0.13 - 0.05 * (rel_y - 0.15))
    stride = rng.uniform(0.0, 0.08)
    legs = (rel_y >= 0.55) & (rel_y < 1.0) & (
        (np.abs(rel_x + 0.05 + stride * (rel_y - 0.55)) < 0.045)
        | (np.abs(rel_x - 0.05 - stride * (rel_y - 0.55)) < 0.045))
    shirt = rng.uniform(20, 240, 3)
    trousers = rng.uniform([20, 20, 30], [90, 90, 140])
    color = np.where(head[..., None], SKIN[rng.integers(len(SKIN))], np.where(torso[..., None], shirt, trousers))
    canvas.paint(head | torso | legs, color, PERSON)


@register_dataset("synthetic")
class Synthetic(Dataset):
    """Options: size=(height, width), num_train, num_val, seed."""
    class_names = CLASS_NAMES
    colors = CLASS_COLORS
    splits = tuple(SPLIT_CODES)

    def __init__(self, data_dir=None, size=(128, 128), num_train=200, num_val=50, seed=0):
        self.size = (int(size[0]), int(size[1]))
        self.seed = int(seed)
        self.counts = {"train": int(num_train), "val": int(num_val)}
        if data_dir is None:
            data_dir = os.path.join(os.path.expanduser("~/.cache/fcn-graph/synthetic"),
                                    f"{self.size[0]}x{self.size[1]}-seed{self.seed}")
        super().__init__(data_dir)
        self.ensure_generated()

    @property
    def fixed_size(self):
        return self.size

    def examples(self, split):
        self.check_split(split)
        return [self._paths(split, index) for index in range(self.counts[split])]

    def _paths(self, split, index):
        name = f"{split}_{index:06d}"
        return (os.path.join(self.data_dir, split, "images", name + ".png"),
                os.path.join(self.data_dir, split, "labels", name + ".png"), name)

    def ensure_generated(self):
        """Draw and write every scene of every split whose image or label file is missing.

        The constructor calls it, so a source in hand has its files on disk;
        call it again after deleting files to restore them.
        """
        for split in self.splits:
            for index in range(self.counts[split]):
                image, label, _ = self._paths(split, index)
                if not (os.path.isfile(image) and os.path.isfile(label)):
                    self._materialise(split, index, image, label)

    def draw(self, split, index):
        """The scene `index` of `split` as (image, label) arrays, without touching the disk."""
        rng = np.random.default_rng([self.seed, SPLIT_CODES[split], index])
        return draw_scene(rng, *self.size)

    def _materialise(self, split, index, image_path, label_path):
        image, label = self.draw(split, index)
        for path in (image_path, label_path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        # Written under temporary names and renamed, so an interrupted run never leaves
        # a truncated file that would count as present.
        save_label_png(label_path + ".tmp.png", label, self.colors)
        Image.fromarray(image).save(image_path + ".tmp.png")
        os.replace(label_path + ".tmp.png", label_path)
        os.replace(image_path + ".tmp.png", image_path)

    def read_label(self, path):
        return read_index_png(path)
