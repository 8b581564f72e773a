"""The bilinear upsamplers of TensorFlow, Keras, scikit-image, PIL and PyTorch against the FCN's.

Each runs on the same probe images as the checks and is compared with
`fcn_graph.upsample_bilinear` (the FCN transposed convolution, equal to
scikit-image's rescale with mode='constant'), factor by factor, and put in
one of four categories: equal, differs only in the border band of width
floor(f / 2), offset by a number of output pixels, or other.
"""
from dataclasses import asdict, dataclass

import numpy as np
import PIL
import skimage
import tensorflow as tf
from PIL import Image

from fcn_graph.testing.checks import TOLERANCE, as_array, measure, probe_images
from fcn_graph.testing.diagnosis import find_offset
from fcn_graph.testing.reference import reference_upsample
from fcn_graph.testing.report import format_number, markdown_table
from fcn_graph.upsampling import bilinear_kernel, kernel_size, upsample_bilinear

DEFAULT_COMPARE_FACTORS = (2, 3, 4, 8, 32)
PROBE_SIZE = (5, 7)
PROBE_CHANNELS = 3
BASELINE = "fcn_graph.upsample_bilinear (stride-f transposed convolution, bilinear_kernel, SAME)"


@dataclass(frozen=True)
class Upsampler:
    name: str
    library: str                # package and version, or the package alone when skipped
    run: object = None          # (images NHWC float32, factor) -> NHWC array; None when skipped
    skipped: str | None = None  # why it could not run here


@dataclass(frozen=True)
class Comparison:
    factor: int
    category: str          # "equal", "border band", "offset", "other"
    offset_px: float | None       # observed[y] = baseline[y + offset_px] away from the borders
    output_size: list
    max_diff: float | None        # None when the output has another size
    border_diff: float | None
    interior_diff: float | None
    causes: list                  # names of the known bugs that reproduce the output exactly


def target_size(images, factor):
    return [images.shape[1] * factor, images.shape[2] * factor]


def tensorflow_upsamplers():
    v1 = tf.compat.v1.image
    library = f"tensorflow {tf.__version__}"
    return [
        Upsampler("TF `tf.image.resize(method='bilinear')`", library,
                  lambda x, f: tf.image.resize(x, target_size(x, f), method="bilinear")),
        Upsampler("TF1 `tf.compat.v1.image.resize_bilinear`", library,
                  lambda x, f: v1.resize_bilinear(x, target_size(x, f))),
        Upsampler("TF1 `resize_bilinear(align_corners=True)`", library,
                  lambda x, f: v1.resize_bilinear(x, target_size(x, f), align_corners=True)),
    ]


def keras_upsamplers():
    name = "Keras `UpSampling2D(interpolation='bilinear')`"
    try:
        import keras
    except ImportError:  # Keras 3 comes with TensorFlow >= 2.16 but may be left out
        return [Upsampler(name, "keras", skipped="keras is not installed")]
    return [Upsampler(name, f"keras {keras.__version__}",
                      lambda x, f: keras.layers.UpSampling2D(f, interpolation="bilinear")(x))]


def pil_bilinear(images, factor):
    """Each channel as a 32-bit float PIL image, so that nothing is rounded to 8 bits."""
    height, width = target_size(images, factor)
    return np.stack([
        np.stack([np.asarray(Image.fromarray(plane).resize((width, height),
                                                           Image.Resampling.BILINEAR))
                  for plane in np.moveaxis(image, -1, 0)], axis=-1)
        for image in images])


def numpy_upsamplers():
    library = f"scikit-image {skimage.__version__}"
    return [
        Upsampler("scikit-image `rescale(order=1, mode='constant')`", library,
                  lambda x, f: reference_upsample(x, f, "constant")),
        Upsampler("scikit-image `rescale(order=1, mode='edge')`", library,
                  lambda x, f: reference_upsample(x, f, "edge")),
        Upsampler("PIL `resize(BILINEAR)` (mode F)", f"pillow {PIL.__version__}", pil_bilinear),
    ]


def torch_upsamplers():
    names = ["PyTorch `F.interpolate(mode='bilinear', align_corners=False)`",
             "PyTorch `F.interpolate(mode='bilinear', align_corners=True)`",
             "PyTorch `ConvTranspose2d(k, stride=f, padding=f // 2)`, bilinear_kernel"]
    try:
        import torch
    except ImportError:  # optional: the PyTorch rows are skipped
        return [Upsampler(name, "torch", skipped="torch is not installed") for name in names]

    def nchw(images):
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)

    def interpolate(align_corners):
        return lambda x, f: torch.nn.functional.interpolate(
            nchw(x), scale_factor=f, mode="bilinear",
            align_corners=align_corners).permute(0, 2, 3, 1)

    def transposed(images, factor):
        channels = images.shape[3]
        layer = torch.nn.ConvTranspose2d(channels, channels, kernel_size(factor), stride=factor,
                                         padding=factor // 2, bias=False)
        with torch.no_grad():  # ConvTranspose2d weights are (in, out, kh, kw)
            layer.weight.copy_(torch.from_numpy(
                bilinear_kernel(factor, channels).transpose(2, 3, 0, 1)))
            return layer(nchw(images)).permute(0, 2, 3, 1)

    library = f"torch {torch.__version__}"
    return [Upsampler(names[0], library, interpolate(False)),
            Upsampler(names[1], library, interpolate(True)),
            Upsampler(names[2], library, transposed)]


def available_upsamplers():
    return tensorflow_upsamplers() + keras_upsamplers() + numpy_upsamplers() + torch_upsamplers()


def compare_one(upsampler, images, factor, tolerance):
    baseline = upsample_bilinear(images, factor).numpy().astype(np.float64)
    observed = as_array(upsampler.run(images.copy(), factor), upsampler.name)
    case = measure(images, factor, observed, baseline, "constant", tolerance)
    offset = None
    if case.max_diff is None:
        category = "other"
    elif case.passed:
        category = "equal"
    elif case.interior_diff is not None and case.interior_diff <= tolerance:
        category = "border band"
    else:
        offset = find_offset(images, factor, observed, tolerance)
        category = "other" if offset is None else "offset"
    return Comparison(factor, category, offset, list(case.output_size), case.max_diff,
                      case.border_diff, case.interior_diff, [cause.name for cause in case.causes])


def compare_upsamplers(factors=DEFAULT_COMPARE_FACTORS, tolerance=TOLERANCE):
    """Every upsampler against the FCN transposed convolution; a JSON-ready dict."""
    images = probe_images(PROBE_SIZE, PROBE_CHANNELS)
    methods = []
    for upsampler in available_upsamplers():
        results = [] if upsampler.skipped else [
            asdict(compare_one(upsampler, images, factor, tolerance)) for factor in factors]
        methods.append({"name": upsampler.name, "library": upsampler.library,
                        "skipped": upsampler.skipped, "results": results})
    return {
        "baseline": BASELINE,
        "inputs": {"batch": images.shape[0], "height": PROBE_SIZE[0], "width": PROBE_SIZE[1],
                   "channels": PROBE_CHANNELS, "values": "uniform in [0.5, 1.5)"},
        "tolerance": tolerance,
        "factors": list(factors),
        "methods": methods,
    }


def describe(result):
    diff = format_number(result["max_diff"])
    if result["category"] == "offset":
        return f"offset {result['offset_px']:g} px ({diff})"
    if result["max_diff"] is None:
        return f"other: {'x'.join(map(str, result['output_size']))}"
    return f"{result['category']} ({diff})"


def format_comparison(comparison):
    """The markdown table printed by `fcn-graph kernel compare`, with its legend."""
    headers = ["upsampler"] + [f"f={f}" for f in comparison["factors"]] + ["known cause"]
    rows = []
    for method in comparison["methods"]:
        if method["skipped"]:
            rows.append([method["name"]] + ["-"] * len(comparison["factors"])
                        + [f"skipped: {method['skipped']}"])
            continue
        causes = dict.fromkeys(c for r in method["results"] for c in r["causes"])
        rows.append([method["name"]] + [describe(r) for r in method["results"]]
                    + [", ".join(causes) or "-"])
    inputs = comparison["inputs"]
    return "\n".join([
        f"Against {comparison['baseline']}, on {inputs['batch']} random "
        f"{inputs['height']}x{inputs['width']}x{inputs['channels']} images "
        f"({inputs['values']}); largest difference in brackets.",
        "",
        markdown_table(headers, rows),
        "",
        "equal: within the tolerance everywhere. border band: differs only in the outer "
        "floor(f / 2) pixels. offset s px: away from the borders, output pixel y equals the "
        "baseline's pixel y + s (the picture moves s pixels up and left). other: none of "
        "these. known cause: the `fcn_graph.testing` diagnosis that reproduces the output "
        "exactly.",
    ])
