"""Exporting a trained run for plain TensorFlow: a SavedModel and a frozen GraphDef.

Both take one RGB uint8 image of any size, `image` [H, W, 3], and give
`labels` (int32 [H, W]) and `probabilities` (float32 [H, W, C]); neither
needs fcn-graph to load. The SavedModel keeps the weights as variables
(signature `serving_default`); the frozen graph folds them into constants,
which is what a single-file deployment artefact is for.
"""
import json
import os

import tensorflow as tf

from fcn_graph.errors import OutputExistsError
from fcn_graph.models import build
from fcn_graph.rundir import checkpoint_restorer, load_record, resolve_checkpoint
from fcn_graph.scoring import segmentation_outputs

v1 = tf.compat.v1

INPUT_NAME = "image"
OUTPUT_NAMES = ("labels", "probabilities")
SIGNATURE = "serving_default"
# Class names and colours travel with the SavedModel, outside the graph.
CLASSES_FILE = os.path.join("assets.extra", "classes.json")


def build_serving_graph(spec):
    """(graph, input tensor, {output name: tensor}) of the single-image serving network."""
    graph = tf.Graph()
    with graph.as_default():
        image = v1.placeholder(tf.uint8, [None, None, 3], name=INPUT_NAME)
        net = build(spec.for_inference(), tf.cast(image, tf.float32)[None])
        probabilities, labels = segmentation_outputs(net.logits)
        outputs = {"labels": tf.identity(labels[0], name="labels"),
                   "probabilities": tf.identity(probabilities[0], name="probabilities")}
    return graph, image, outputs


def export_run(checkpoint, out_dir, frozen=None):
    """Write the SavedModel to `out_dir` (which must not exist) and optionally a frozen .pb.

    Returns {"saved_model": out_dir, "frozen": path or None, "checkpoint": prefix}.
    """
    checkpoint_path = resolve_checkpoint(checkpoint)
    record = load_record(checkpoint)
    if os.path.exists(out_dir):
        raise OutputExistsError(f"{out_dir} already exists; a SavedModel needs a new directory, "
                                f"so choose another --out or remove it")
    graph, image, outputs = build_serving_graph(record.model)
    with graph.as_default():
        restore = checkpoint_restorer(checkpoint_path)
        export_saver = v1.train.Saver(sharded=True)
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={INPUT_NAME: image}, outputs=outputs)
    with v1.Session(graph=graph) as sess:
        restore(sess)
        builder = v1.saved_model.Builder(out_dir)
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.tag_constants.SERVING],
            signature_def_map={SIGNATURE: signature}, saver=export_saver,
            strip_default_attrs=True)
        builder.save()
        if frozen:
            frozen_graph = v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), list(OUTPUT_NAMES))
            directory = os.path.dirname(os.path.abspath(frozen))
            os.makedirs(directory, exist_ok=True)
            with open(frozen, "wb") as f:
                f.write(frozen_graph.SerializeToString())
    write_classes(out_dir, record)
    return {"saved_model": out_dir, "frozen": frozen, "checkpoint": checkpoint_path}


def write_classes(out_dir, record):
    path = os.path.join(out_dir, CLASSES_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    classes = {"class_names": list(record.class_names),
               "colors": [list(color) for color in record.colors],
               "ignore_label": record.ignore_label, "model": record.model.name}
    with open(path, "w") as f:
        json.dump(classes, f, indent=2)
