"""Polygon annotations to index masks, without anti-aliasing.

Coordinates are pixel coordinates with pixel (row r, column c) centred on
the point (x=c, y=r). A pixel belongs to a polygon when its centre lies
inside by the even-odd rule; a centre exactly on an edge counts for the
left and top edges and not for the right and bottom ones, so two polygons
sharing an edge cover every pixel along it exactly once. Later polygons
are drawn over earlier ones.

Formats read:
- LabelMe JSON (`shapes` with `label`, `points`, shape_type polygon or rectangle);
- PASCAL VOC-style XML (`object/name` with one or more `polygon`s, each of
  `pt/x,y` or `x1,y1,...`; objects with only `bndbox` use its 1-based
  inclusive corners);
- COCO JSON (`segmentation` polygons or uncompressed RLE; COCO coordinates
  put pixel centres at +0.5, which is removed on reading).
"""
import json
import os
import xml.etree.ElementTree as ET

import numpy as np

from fcn_graph.data.base import IGNORE_LABEL, DataError


def polygon_mask(points, height, width):
    """bool HxW: the pixels whose centres the polygon covers (rule in the module docstring)."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if len(points) < 3:
        return np.zeros((height, width), bool)
    # Crossings counted to the right of each centre: an edge crossing row y at
    # x_cross toggles every column c < x_cross. Half-open rows y0 <= y < y1
    # give the top/left inclusion rule.
    toggles = np.zeros((height, width + 1), np.int32)
    x0, y0 = points[:, 0], points[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1):
        if ay == by:
            continue
        top, bottom = min(ay, by), max(ay, by)
        rows = np.arange(max(int(np.ceil(top)), 0), min(int(np.ceil(bottom)), height))
        if rows.size == 0:
            continue
        cross = ax + (rows - ay) * (bx - ax) / (by - ay)
        columns = np.clip(np.ceil(cross), 0, width).astype(np.int64)
        np.add.at(toggles, (rows, np.zeros_like(rows)), 1)
        np.add.at(toggles, (rows, columns), -1)
    return (np.cumsum(toggles, axis=1)[:, :width] % 2) == 1


def _rectangle(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def read_labelme(path):
    """(height, width, [(label, points)]) from a LabelMe JSON file."""
    data = _load_json(path)
    shapes = []
    for shape in data.get("shapes", []):
        kind = shape.get("shape_type", "polygon")
        points = shape["points"]
        if kind == "rectangle":
            (xa, ya), (xb, yb) = points
            points = _rectangle(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
        elif kind != "polygon":
            raise DataError(f"{path}: shape type {kind!r} is not supported; convert it to a polygon")
        shapes.append((shape["label"], points))
    try:
        return int(data["imageHeight"]), int(data["imageWidth"]), shapes
    except KeyError as err:
        raise DataError(f"{path}: LabelMe JSON lacks {err}; add imageHeight and imageWidth") from err


def read_voc_xml(path):
    """(height, width, [(name, points)]) from a VOC-style XML file with polygons or boxes."""
    try:
        root = ET.parse(path).getroot()
        height, width = int(root.findtext("size/height")), int(root.findtext("size/width"))
    except (ET.ParseError, OSError, TypeError, ValueError) as err:
        raise DataError(f"{path}: not a VOC XML file with size/height and size/width ({err})") from err
    shapes = []
    for obj in root.iter("object"):
        name = obj.findtext("name", "").strip()
        polygons = obj.findall("polygon")
        if polygons:
            # An object split into several parts (a tree behind a pole) holds one polygon each.
            shapes.extend((name, _xml_polygon_points(polygon)) for polygon in polygons)
        elif obj.find("bndbox") is not None:
            box = {k: float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")}
            # 1-based inclusive pixel indices -> a rectangle around those pixel centres.
            shapes.append((name, _rectangle(box["xmin"] - 1.5, box["ymin"] - 1.5,
                                            box["xmax"] - 0.5, box["ymax"] - 0.5)))
    return height, width, shapes


def _xml_polygon_points(polygon):
    """Points of a `<polygon>`: `<pt><x/><y/></pt>` children, or numbered `<x1/><y1/><x2/>...`."""
    points = [(float(pt.findtext("x")), float(pt.findtext("y"))) for pt in polygon.findall("pt")]
    index = 1
    while polygon.find(f"x{index}") is not None:
        points.append((float(polygon.findtext(f"x{index}")), float(polygon.findtext(f"y{index}"))))
        index += 1
    return points


def read_coco(path):
    """{file_name: (height, width, [(category name, points or mask)])} from a COCO JSON file."""
    data = _load_json(path)
    categories = {c["id"]: c["name"] for c in data.get("categories", [])}
    images = {i["id"]: (i["file_name"], int(i["height"]), int(i["width"])) for i in data.get("images", [])}
    result = {name: (h, w, []) for name, h, w in images.values()}
    for ann in data.get("annotations", []):
        if ann["image_id"] not in images or ann["category_id"] not in categories:
            raise DataError(f"{path}: annotation {ann.get('id')} refers to an unknown image or category")
        name, height, width = images[ann["image_id"]]
        segmentation = ann["segmentation"]
        label = categories[ann["category_id"]]
        if isinstance(segmentation, dict):
            where = f"{path}: annotation {ann.get('id')}"
            result[name][2].append((label, _decode_rle(segmentation, height, width, where)))
        else:
            for flat in segmentation:
                points = np.asarray(flat, np.float64).reshape(-1, 2) - 0.5
                result[name][2].append((label, points))
    return result


def _decode_rle(rle, height, width, where):
    counts = rle.get("counts")
    if not isinstance(counts, list):
        raise DataError(f"{where}: compressed RLE masks are not supported; export the annotations "
                        f"as polygons or uncompressed RLE")
    if sum(counts) != height * width:
        raise DataError(f"{where}: RLE counts cover {sum(counts)} of {height * width} pixels "
                        f"of its {width}x{height} image; the mask belongs to another image size")
    flat = np.zeros(height * width, bool)
    position = 0
    for run, count in enumerate(counts):
        flat[position:position + count] = run % 2 == 1
        position += count
    return flat.reshape(width, height).T


def rasterize(shapes, height, width, class_map, background=0, source="annotation"):
    """uint8 HxW mask from [(class name, points or bool mask)], later shapes over earlier ones."""
    mask = np.full((height, width), background, np.uint8)
    for name, shape in shapes:
        if name not in class_map:
            raise DataError(f"{source}: label {name!r} is not in the class map "
                            f"({', '.join(sorted(class_map))}); add it to the class map file")
        region = shape if isinstance(shape, np.ndarray) and shape.dtype == bool else polygon_mask(shape, height, width)
        mask[region] = class_map[name]
    return mask


# Class maps known by name. "labelbox8" is a street-scene labelling of 8 classes
# whose published description numbers them two ways: a list 1 road, 2 sidewalk,
# 3 landscaping, 4 tree, 5 sky, 6 concrete (bridge, barrier, median), 7 building,
# 8 background, and the script that actually wrote the masks: background 0 (the
# canvas left unpainted), tree 1, landscaping 2, road 3, sidewalk 4, building 5,
# sky 6, concrete 7. The script's numbering is the one followed here: masks made
# that way hold it, uncovered pixels are background 0 (the --background default),
# and it fills the train ids 0..7 with no gap, where the list's 1..8 would leave
# class 0 empty.
BUILTIN_CLASS_MAPS = {
    "labelbox8": ("background", "tree", "landscaping", "road", "sidewalk", "building", "sky", "concrete"),
}


def read_class_map(path):
    """{name: index} from a built-in map's name (BUILTIN_CLASS_MAPS), JSON ({"cat": 8} or
    ["background", "cat"]) or text (one name per line)."""
    if path in BUILTIN_CLASS_MAPS:
        return {name: i for i, name in enumerate(BUILTIN_CLASS_MAPS[path])}
    if not os.path.isfile(path):
        raise DataError(f"class map not found: {path}; write one name per line (line number = class index) "
                        f"or name a built-in map ({', '.join(sorted(BUILTIN_CLASS_MAPS))})")
    with open(path) as f:
        text = f.read()
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"class map {path} is not valid JSON ({err})") from err
        mapping = {name: i for i, name in enumerate(data)} if isinstance(data, list) else dict(data)
    else:
        mapping = {line.strip(): i for i, line in enumerate(l for l in text.splitlines() if l.strip())}
    bad = {k: v for k, v in mapping.items() if not (isinstance(v, int) and 0 <= v <= IGNORE_LABEL)}
    if bad:
        raise DataError(f"class map {path}: indices must be integers 0..255, got {bad}")
    return mapping


def annotations_to_masks(path):
    """[(image name, height, width, shapes)] from one annotation file of any supported format."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if path.endswith(".xml"):
        return [(stem, *read_voc_xml(path))]
    data = _load_json(path)
    if "annotations" in data and "images" in data:
        return [(os.path.splitext(name)[0], h, w, shapes) for name, (h, w, shapes) in read_coco(path).items()]
    if "shapes" in data:
        return [(stem, *read_labelme(path))]
    raise DataError(f"{path}: neither LabelMe JSON (shapes) nor COCO JSON (images, annotations)")


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read JSON ({err})") from err
