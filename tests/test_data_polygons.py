import json

import numpy as np
import pytest
from PIL import Image

from fcn_graph.cli import main
from fcn_graph.data import DataError
from fcn_graph.data.polygons import annotations_to_masks, polygon_mask, rasterize, read_class_map


def test_pixel_centres_on_left_and_top_edges_count_right_and_bottom_do_not():
    square = [(0, 0), (3, 0), (3, 2), (0, 2)]
    np.testing.assert_array_equal(polygon_mask(square, 4, 5).astype(int), [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ])


def test_triangle_by_hand():
    np.testing.assert_array_equal(polygon_mask([(0.5, 0.5), (4.5, 0.5), (0.5, 4.5)], 5, 5).astype(int), [
        [0, 0, 0, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 1, 1, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ])


def test_polygons_sharing_an_edge_cover_each_pixel_once():
    left = polygon_mask([(0, 0), (2, 0), (3, 4), (0, 4)], 4, 6)
    right = polygon_mask([(2, 0), (6, 0), (6, 4), (3, 4)], 4, 6)
    assert not (left & right).any()
    np.testing.assert_array_equal((left | right)[:, :6].all(axis=0), [True] * 6)


def test_later_shapes_overwrite_earlier_and_unknown_labels_fail():
    shapes = [("big", [(-0.5, -0.5), (3.5, -0.5), (3.5, 2.5), (-0.5, 2.5)]),
              ("small", [(0.5, 0.5), (2.5, 0.5), (2.5, 1.5), (0.5, 1.5)])]
    np.testing.assert_array_equal(rasterize(shapes, 3, 4, {"big": 1, "small": 2}), [
        [1, 1, 1, 1],
        [1, 2, 2, 1],
        [1, 1, 1, 1],
    ])
    with pytest.raises(DataError, match="'small' is not in the class map"):
        rasterize(shapes, 3, 4, {"big": 1}, source="a.json")


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_labelme_voc_xml_and_coco_give_the_same_mask(tmp_path):
    points = [[1, 0], [3, 0], [3, 2], [1, 2]]
    labelme = _write(tmp_path / "scene.json", json.dumps({
        "shapes": [{"label": "cat", "points": points, "shape_type": "polygon"}],
        "imageHeight": 3, "imageWidth": 4}))
    xml = _write(tmp_path / "scene.xml", "<annotation><size><width>4</width><height>3</height></size>"
                 "<object><name>cat</name><polygon>" +
                 "".join(f"<pt><x>{x}</x><y>{y}</y></pt>" for x, y in points) + "</polygon></object></annotation>")
    coco = _write(tmp_path / "coco.json", json.dumps({
        "images": [{"id": 1, "file_name": "scene.jpg", "height": 3, "width": 4}],
        "categories": [{"id": 5, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "iscrowd": 0,
                         "segmentation": [[c + 0.5 for p in points for c in p]]}]}))
    expected = [[0, 8, 8, 0], [0, 8, 8, 0], [0, 0, 0, 0]]
    for path in (labelme, xml, coco):
        [(name, height, width, shapes)] = annotations_to_masks(path)
        assert name == "scene"
        np.testing.assert_array_equal(rasterize(shapes, height, width, {"cat": 8}), expected)


def test_voc_bndbox_is_one_based_and_inclusive(tmp_path):
    xml = _write(tmp_path / "box.xml", "<annotation><size><width>4</width><height>3</height></size>"
                 "<object><name>dog</name><bndbox><xmin>2</xmin><ymin>1</ymin><xmax>3</xmax><ymax>2</ymax>"
                 "</bndbox></object></annotation>")
    [(_, h, w, shapes)] = annotations_to_masks(xml)
    np.testing.assert_array_equal(rasterize(shapes, h, w, {"dog": 12}), [[0, 12, 12, 0], [0, 12, 12, 0], [0, 0, 0, 0]])


def test_coco_uncompressed_rle_is_column_major(tmp_path):
    coco = _write(tmp_path / "rle.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": 2, "width": 3}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1,
                         "segmentation": {"size": [2, 3], "counts": [1, 2, 3]}}]}))
    [(_, h, w, shapes)] = annotations_to_masks(coco)
    np.testing.assert_array_equal(rasterize(shapes, h, w, {"x": 1}), [[0, 1, 0], [1, 0, 0]])


def test_cli_writes_palette_masks_with_the_class_map(tmp_path):
    annotation = _write(tmp_path / "a.json", json.dumps({
        "shapes": [{"label": "road", "points": [[0, 0], [2, 0], [2, 2], [0, 2]]}],
        "imageHeight": 2, "imageWidth": 3}))
    classes = _write(tmp_path / "classes.txt", "background\nroad\n")
    assert main(["data", "polygons", annotation, "--classes", classes, "--out-dir", str(tmp_path / "out"),
                 "--suffix", "_mask"]) == 0
    mask = Image.open(tmp_path / "out" / "a_mask.png")
    assert mask.mode == "P"
    np.testing.assert_array_equal(np.array(mask), [[1, 1, 0], [1, 1, 0]])
    assert main(["data", "polygons", annotation, "--classes", "cityscapes", "--out-dir", str(tmp_path)]) == 0
    assert main(["data", "polygons", annotation, "--classes", "voc2012", "--out-dir", str(tmp_path)]) == 1


def test_shipped_cat_mask_is_the_rasterised_polygon():
    from fcn_graph.data.single_image import ASSETS, photo_paths
    [(_, h, w, shapes)] = annotations_to_masks(f"{ASSETS}/chelsea.json")
    mask = np.array(Image.open(photo_paths("chelsea")[1]))
    np.testing.assert_array_equal(rasterize(shapes, h, w, {"cat": 8}), mask)


def test_shipped_astronaut_mask_is_the_polygon_snapped_to_edges():
    from fcn_graph.data.single_image import ASSETS, photo_paths
    from fcn_graph.data.snap import snap_to_edges
    image_path, mask_path = photo_paths("astronaut")
    [(_, h, w, shapes)] = annotations_to_masks(f"{ASSETS}/astronaut.json")
    polygon = rasterize(shapes, h, w, {"person": 15})
    snapped = snap_to_edges(np.array(Image.open(image_path)), polygon, margin=10)
    shipped = np.array(Image.open(mask_path))
    # The iterative solver may settle a handful of tie pixels differently elsewhere.
    assert (snapped != shipped).mean() < 1e-3
    assert (polygon != shipped).sum() > 100  # snapping did move the boundary


def test_cli_reports_bad_inputs_as_errors_naming_the_file(tmp_path, capsys):
    annotation = _write(tmp_path / "a.json", json.dumps({
        "shapes": [{"label": "road", "points": [[0, 0], [2, 0], [2, 2], [0, 2]]}],
        "imageHeight": 2, "imageWidth": 3}))
    bad_classes = _write(tmp_path / "classes.json", "{not json")
    out = str(tmp_path / "out")
    assert main(["data", "polygons", annotation, "--classes", bad_classes, "--out-dir", out]) == 1
    assert "classes.json" in capsys.readouterr().err
    classes = _write(tmp_path / "classes.txt", "background\nroad\n")
    assert main(["data", "polygons", annotation, "--classes", classes, "--out-dir", out,
                 "--background", "256"]) == 2
    assert "--background" in capsys.readouterr().err
    _write(tmp_path / "a.png", "not an image")
    assert main(["data", "polygons", annotation, "--classes", classes, "--out-dir", out,
                 "--snap-to-edges", "2"]) == 1
    assert "a.png" in capsys.readouterr().err


def test_coco_rle_whose_counts_do_not_fill_the_image_is_refused(tmp_path):
    coco = _write(tmp_path / "rle.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": 2, "width": 3}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 1,
                         "segmentation": {"size": [2, 3], "counts": [1, 2]}}]}))
    with pytest.raises(DataError, match="rle.json.*annotation 7.*3 of 6 pixels"):
        annotations_to_masks(coco)


def test_voc_xml_object_with_several_polygons_paints_every_one(tmp_path):
    left = [(0, 0), (2, 0), (2, 2), (0, 2)]
    right = [(4, 1), (6, 1), (6, 3), (4, 3)]
    numbered = "".join(f"<x{i}>{x}</x{i}><y{i}>{y}</y{i}>" for i, (x, y) in enumerate(right, 1))
    xml = _write(tmp_path / "parts.xml", "<annotation><size><width>7</width><height>3</height></size>"
                 "<object><name>tree</name><polygon>" +
                 "".join(f"<pt><x>{x}</x><y>{y}</y></pt>" for x, y in left) +
                 f"</polygon><polygon>{numbered}</polygon></object></annotation>")
    [(_, h, w, shapes)] = annotations_to_masks(xml)
    assert [name for name, _ in shapes] == ["tree", "tree"]
    np.testing.assert_array_equal(rasterize(shapes, h, w, {"tree": 1}), [
        [1, 1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 1, 1, 0],
    ])


def test_builtin_labelbox8_map_follows_the_mask_writing_numbering(tmp_path):
    assert read_class_map("labelbox8") == {
        "background": 0, "tree": 1, "landscaping": 2, "road": 3, "sidewalk": 4, "building": 5,
        "sky": 6, "concrete": 7}
    polygon = "".join(f"<x{i}>{x}</x{i}><y{i}>{y}</y{i}>" for i, (x, y) in enumerate(
        [(0, 0), (2, 0), (2, 2), (0, 2)], 1))
    xml = _write(tmp_path / "street.xml", "<annotation><size><width>3</width><height>2</height></size>"
                 f"<object><name>road</name><polygon>{polygon}</polygon></object></annotation>")
    assert main(["data", "polygons", xml, "--classes", "labelbox8", "--out-dir", str(tmp_path / "out")]) == 0
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "out" / "street.png")), [[3, 3, 0], [3, 3, 0]])
