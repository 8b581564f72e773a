"""`fcn-graph infer`: label PNGs and colour overlays for images or folders of images."""
import os


def register(subparsers):
    parser = subparsers.add_parser(
        "infer", help="segment images with a trained run",
        description="Write LABEL PNGs (palette, class ids as pixel values) and colour overlays "
                    "for each image; folders are read non-recursively.")
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint prefix")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--alpha", type=float, default=0.5,
                        help="overlay opacity of the class colours (default 0.5)")
    parser.add_argument("--crf", action="store_true",
                        help="refine with a dense CRF (needs pydensecrf2)")
    parser.set_defaults(func=run)


def run(args):
    import numpy as np
    from PIL import Image

    from fcn_graph.data import overlay, save_label_png, voc_palette
    from fcn_graph.inference import Segmenter, image_files, read_rgb
    files = image_files(args.images)
    os.makedirs(args.out, exist_ok=True)
    times = []
    with Segmenter(args.checkpoint, crf=args.crf) as segmenter:
        colors = segmenter.colors or voc_palette(len(segmenter.class_names))
        for path in files:
            rgb = read_rgb(path)
            labels, _, seconds = segmenter.timed_segment(rgb)
            stem = os.path.splitext(os.path.basename(path))[0]
            save_label_png(os.path.join(args.out, f"{stem}.png"), labels, colors)
            Image.fromarray(overlay(rgb, labels, colors, args.alpha)).save(
                os.path.join(args.out, f"{stem}_overlay.png"))
            times.append(seconds)
            print(f"{path}: {rgb.shape[1]}x{rgb.shape[0]} in {1000 * seconds:.1f} ms")
    if len(times) > 1:
        # The first image also pays for graph optimisation; the median is the steady rate.
        print(f"{len(times)} images, median {1000 * float(np.median(times)):.1f} ms per image")
    return 0
