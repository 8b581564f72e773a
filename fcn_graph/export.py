"""Exporting a trained run for plain TensorFlow: a SavedModel and a frozen GraphDef.

Both take one RGB uint8 image of any size, `image` [H, W, 3], and give
`labels` (int32 [H, W]) and `probabilities` (float32 [H, W, C]); neither
needs fcn-graph to load. The SavedModel keeps the weights as variables
(signature `serving_default`); the frozen graph folds them into constants,
which is what a single-file deployment artefact is for. Exported with
test-time augmentation, both also hold signature `tta`: the same input and
outputs, averaged over scales and mirror images fixed at export (listed in
`assets.extra/classes.json`).
"""
import json
import os

import tensorflow as tf

from fcn_graph.errors import OutputExistsError
from fcn_graph.models import build
from fcn_graph.rundir import checkpoint_restorer, load_record, resolve_checkpoint
from fcn_graph.scoring import segmentation_outputs
from fcn_graph.tta import checked_scales

v1 = tf.compat.v1

INPUT_NAME = "image"
SIGNATURE = "serving_default"
# Test-time augmentation, with the scales and flip fixed at export.
TTA_SIGNATURE = "tta"
# Class names and colours travel with the SavedModel, outside the graph.
CLASSES_FILE = os.path.join("assets.extra", "classes.json")


def build_serving_graph(spec, scales=(1.0,), flip=False):
    """(graph, input tensor, {signature name: {output name: tensor}}) of the single-image
    serving network; with `scales` other than (1,) or `flip`, also the test-time augmented
    outputs, under TTA_SIGNATURE."""
    graph = tf.Graph()
    with graph.as_default():
        image = v1.placeholder(tf.uint8, [None, None, 3], name=INPUT_NAME)
        net = build(spec.for_inference(), tf.cast(image, tf.float32)[None])
        probabilities, labels = segmentation_outputs(net.logits)
        signatures = {SIGNATURE: {
            "labels": tf.identity(labels[0], name="labels"),
            "probabilities": tf.identity(probabilities[0], name="probabilities")}}
        if tuple(scales) != (1.0,) or flip:
            with v1.variable_scope(v1.get_variable_scope(), reuse=True), tf.name_scope("tta"):
                averaged = augmented_probabilities(spec, image, scales, flip)
            signatures[TTA_SIGNATURE] = {
                "labels": tf.argmax(averaged, axis=-1, output_type=tf.int32, name="tta_labels"),
                "probabilities": tf.identity(averaged, name="tta_probabilities")}
    return graph, image, signatures


def augmented_probabilities(spec, image, scales, flip):
    """`fcn_graph.tta.augmented_probabilities` of a uint8 HxWx3 image, in the graph.

    Each scale is one copy of the network sharing the variables (with its
    mirror image in the same batch when `flip`); the resampling is the one
    `fcn_graph.tta` uses: scikit-image's Gaussian anti-aliasing before a
    shrink, then bilinear resizing with half-pixel centres and edge values.
    """
    image = tf.cast(image, tf.float32)
    size = tf.shape(image)[:2]
    total = 0.0
    for index, scale in enumerate(scales):
        with tf.name_scope(f"scale_{index}"):
            scaled = rescaled(image, scale)
            batch = tf.stack([scaled, tf.reverse(scaled, [1])]) if flip else scaled[None]
            probabilities, _ = segmentation_outputs(build(spec.for_inference(), batch).logits)
            if flip:
                probabilities = tf.stack([probabilities[0], tf.reverse(probabilities[1], [1])])
            total += tf.reduce_sum(tf.image.resize(probabilities, size, method="bilinear"),
                                   axis=0)
    return total / (len(scales) * (2 if flip else 1))


def rescaled(image, scale):
    """HxWxC `image` resized to (round(scale H), round(scale W)) as `fcn_graph.tta` does."""
    size = tf.shape(image)[:2]
    new_size = tf.maximum(1, tf.cast(tf.round(tf.cast(size, tf.float64) * scale), tf.int32))
    if scale < 1:
        # scikit-image's anti-aliasing sigma, per axis: (input / output size - 1) / 2.
        sigmas = tf.maximum(tf.constant(0.0, tf.float64),
                            (tf.cast(size, tf.float64) / tf.cast(new_size, tf.float64) - 1) / 2)
        for axis in (0, 1):
            image = tf.cond(sigmas[axis] > 0,
                            lambda axis=axis, current=image: gaussian_filter(current,
                                                                             sigmas[axis], axis),
                            lambda current=image: current)
    return tf.image.resize(image, new_size, method="bilinear")


def gaussian_filter(image, sigma, axis):
    """scipy.ndimage.gaussian_filter1d of HxWxC `image` along `axis`: truncated at 4 sigma,
    edge values repeated beyond the border ('nearest' mode)."""
    radius = tf.cast(4.0 * sigma + 0.5, tf.int32)
    offsets = tf.range(-radius, radius + 1)
    weights = tf.exp(-0.5 * tf.cast(offsets, tf.float64) ** 2 / sigma ** 2)
    weights = tf.cast(weights / tf.reduce_sum(weights), tf.float32)
    length = tf.shape(image)[axis]
    sources = tf.clip_by_value(tf.range(length)[:, None] + offsets[None, :], 0, length - 1)
    # The gathered neighbours take a new axis right after `axis`.
    shape = [1, 1, 1, 1]
    shape[axis + 1] = -1
    return tf.reduce_sum(tf.gather(image, sources, axis=axis) * tf.reshape(weights, shape),
                         axis=axis + 1)


def export_run(checkpoint, out_dir, frozen=None, scales=(1.0,), flip=False, overwrite=False,
               precision=None):
    """Write the SavedModel to `out_dir` (which must not exist) and optionally a frozen .pb.

    The network computes in `precision` (default: the one it was trained
    in); its input and outputs are the same in every precision.

    `scales` and `flip` (test-time augmentation, fixed at export) add the
    signature TTA_SIGNATURE, whose outputs average the probabilities over
    them as `fcn_graph.tta` does; the frozen graph then holds them as
    `tta_labels` and `tta_probabilities`. An existing `frozen` file is
    replaced only with `overwrite`. Returns {"saved_model": out_dir,
    "frozen": path or None, "checkpoint": prefix, "signatures": [names]}.
    """
    scales = checked_scales(scales)
    checkpoint_path = resolve_checkpoint(checkpoint)
    record = load_record(checkpoint)
    if os.path.exists(out_dir):
        raise OutputExistsError(f"{out_dir} already exists; a SavedModel needs a new directory, "
                                f"so choose another --out or remove it")
    if frozen and os.path.isdir(frozen):
        raise OutputExistsError(f"--frozen {frozen} is a directory; name the .pb file to write")
    if frozen and os.path.exists(frozen) and not overwrite:
        raise OutputExistsError(f"--frozen {frozen} already exists; choose another file or "
                                f"pass --overwrite to replace it")
    spec = record.model.for_inference(precision)
    graph, image, signatures = build_serving_graph(spec, scales, flip)
    with graph.as_default():
        restore = checkpoint_restorer(checkpoint_path)
        export_saver = v1.train.Saver(sharded=True)
        signature_defs = {name: v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={INPUT_NAME: image}, outputs=outputs) for name, outputs in signatures.items()}
    with v1.Session(graph=graph) as sess:
        restore(sess)
        builder = v1.saved_model.Builder(out_dir)
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.tag_constants.SERVING],
            signature_def_map=signature_defs, saver=export_saver, strip_default_attrs=True)
        builder.save()
        if frozen:
            output_names = [tensor.op.name for outputs in signatures.values()
                            for tensor in outputs.values()]
            frozen_graph = v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), output_names)
            directory = os.path.dirname(os.path.abspath(frozen))
            os.makedirs(directory, exist_ok=True)
            with open(frozen, "wb") as f:
                f.write(frozen_graph.SerializeToString())
    tta = {"signature": TTA_SIGNATURE, "scales": [float(s) for s in scales], "flip": bool(flip)} \
        if TTA_SIGNATURE in signatures else None
    write_classes(out_dir, record, spec.precision, tta)
    return {"saved_model": out_dir, "frozen": frozen, "checkpoint": checkpoint_path,
            "signatures": sorted(signatures), "precision": spec.precision}


def write_classes(out_dir, record, precision, tta=None):
    path = os.path.join(out_dir, CLASSES_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    classes = {"class_names": list(record.class_names),
               "colors": [list(color) for color in record.colors],
               "ignore_label": record.ignore_label, "model": record.model.name,
               "precision": precision, "tta": tta}
    with open(path, "w") as f:
        json.dump(classes, f, indent=2)
