"""`fcn-graph data`: list, generate, check and convert datasets."""
import os
import sys

from fcn_graph.data import available_datasets, get_dataset, parse_options, voc_palette
from fcn_graph.data.check import check_dataset
from fcn_graph.data.colors import save_label_png
from fcn_graph.data.labels import read_image_rgb
from fcn_graph.data.polygons import annotations_to_masks, rasterize, read_class_map
from fcn_graph.data.registry import dataset_class, parse_option
from fcn_graph.data.snap import snap_to_edges
from fcn_graph.data.tfrecord import write_tfrecords
from fcn_graph.errors import DataError, UsageError


def _add_source_arguments(parser, split_help):
    parser.add_argument("--dataset", required=True, help="dataset name (see `fcn-graph data list`)")
    parser.add_argument("--data-dir", help="directory holding the dataset's files")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="dataset option, repeatable (e.g. size=384x160 as WIDTHxHEIGHT, classes=7)")
    parser.add_argument("--split", action="append", help=split_help)


def _source(args):
    return get_dataset(args.dataset, args.data_dir, **parse_options(args.option))


def register(subparsers):
    parser = subparsers.add_parser("data", help="list, generate, check and convert datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    listing = commands.add_parser("list", help="available dataset sources")
    listing.set_defaults(func=run_list)

    generate = commands.add_parser("generate", help="draw the synthetic street scenes to disk")
    generate.add_argument("--data-dir", help="output directory (default: the cache directory)")
    generate.add_argument("--size", default="128x128", help="WIDTHxHEIGHT (default 128x128)")
    generate.add_argument("--num-train", type=int, default=200)
    generate.add_argument("--num-val", type=int, default=50)
    generate.add_argument("--seed", type=int, default=0)
    generate.set_defaults(func=run_generate)

    check = commands.add_parser("check", help="validate images and labels; exit 1 on any problem")
    _add_source_arguments(check, "split to check, repeatable (default: all)")
    check.add_argument("--out", help="directory for a few image/label overlay PNGs")
    check.add_argument("--overlays", type=int, default=4, help="overlays per split (default 4)")
    check.add_argument("--limit", type=int, help="check only the first N examples of each split")
    check.set_defaults(func=run_check)

    records = commands.add_parser("to-tfrecord", help="write splits as sharded TFRecord files")
    _add_source_arguments(records, "split to write, repeatable (default: all)")
    records.add_argument("--out-dir", required=True)
    records.add_argument("--shards", type=int, help="shards per split (default: one per 500 examples)")
    records.set_defaults(func=run_to_tfrecord)

    polygons = commands.add_parser("polygons", help="rasterise polygon annotations to index-mask PNGs")
    polygons.add_argument("annotations", nargs="+", help="LabelMe JSON, VOC-style XML or COCO JSON files")
    polygons.add_argument("--classes", required=True,
                          help="class map: a dataset name (its class order), a JSON file "
                               "({name: index} or [names]) or a text file (one name per line)")
    polygons.add_argument("--out-dir", required=True)
    polygons.add_argument("--suffix", default="", help="appended to each output name (e.g. _mask)")
    polygons.add_argument("--background", type=int, default=0, help="value of uncovered pixels (default 0)")
    polygons.add_argument("--snap-to-edges", type=int, default=0, metavar="PIXELS",
                          help="re-decide pixels within PIXELS of a boundary from the image's colour "
                               "edges (random walker); needs the images")
    polygons.add_argument("--image-dir", help="where NAME.png/.jpg live for --snap-to-edges "
                                              "(default: beside each annotation file)")
    polygons.set_defaults(func=run_polygons)


def run_list(args):
    for name in available_datasets():
        cls = dataset_class(name)
        doc = (sys.modules[cls.__module__].__doc__ or "").strip()
        print(f"{name:14s} {doc.splitlines()[0] if doc else ''}")
    return 0


def run_generate(args):
    _, size = parse_option(f"size={args.size}")
    if not isinstance(size, tuple):
        raise UsageError(f"--size {args.size!r} is not WIDTHxHEIGHT (e.g. 128x96)")
    source = get_dataset("synthetic", args.data_dir, size=size, num_train=args.num_train,
                         num_val=args.num_val, seed=args.seed)
    for split in source.splits:
        print(f"{split}: {len(source.examples(split))} scenes in {os.path.join(source.data_dir, split)}")
    return 0


def run_check(args):
    source = _source(args)
    status = 0
    for split in args.split or source.splits:
        out = None if args.out is None else os.path.join(args.out, split)
        report = check_dataset(source, split, out, num_overlays=args.overlays, limit=args.limit)
        print(report.summary(source.class_names))
        for path in report.overlays:
            print(f"overlay: {path}")
        status = status or (0 if report.ok else 1)
    return status


def run_to_tfrecord(args):
    source = _source(args)
    for split in args.split or source.splits:
        paths = write_tfrecords(source, split, args.out_dir, num_shards=args.shards)
        print(f"{split}: {len(source.examples(split))} examples in {len(paths)} shards, e.g. {paths[0]}")
    return 0


def read_image_for(image_dir, name):
    for extension in (".png", ".jpg", ".jpeg"):
        path = os.path.join(image_dir, name + extension)
        if os.path.isfile(path):
            return read_image_rgb(path)
    raise DataError(f"no image {name}.png/.jpg in {image_dir} to snap its mask to; pass --image-dir")


def run_polygons(args):
    if not 0 <= args.background <= 255:
        raise UsageError(f"--background {args.background} is not a label value 0..255")
    if args.classes in available_datasets():
        names = dataset_class(args.classes).class_names
        if not names:
            raise DataError(f"dataset {args.classes!r} defines its classes per copy; pass its class file instead")
        class_map = {name: i for i, name in enumerate(names)}
    else:
        class_map = read_class_map(args.classes)
    os.makedirs(args.out_dir, exist_ok=True)
    for annotation in args.annotations:
        for name, height, width, shapes in annotations_to_masks(annotation):
            mask = rasterize(shapes, height, width, class_map, args.background, source=annotation)
            if args.snap_to_edges:
                image_dir = args.image_dir or os.path.dirname(os.path.abspath(annotation))
                mask = snap_to_edges(read_image_for(image_dir, name), mask, args.snap_to_edges)
            path = os.path.join(args.out_dir, f"{name}{args.suffix}.png")
            save_label_png(path, mask, voc_palette())
            print(f"{annotation} -> {path}")
    return 0

