"""TensorBoard event files of a run.

Scalars (loss, learning rate, validation scores) and image panels are
written from values the loop already fetched, as Summary protos, so they
add no op to the graph; only the optional weight and gradient histograms
are graph ops, fetched on summary steps.
"""
import io

import numpy as np
import tensorflow as tf
from PIL import Image

from fcn_graph.data import overlay

v1 = tf.compat.v1


def histogram_op(gradients):
    """Merged histograms of every updated variable and its gradient."""
    with tf.name_scope("histograms"):
        values = []
        for grad, var in gradients:
            values.append(v1.summary.histogram(var.op.name, var, collections=[]))
            values.append(v1.summary.histogram(var.op.name + "/gradient", grad, collections=[]))
        return v1.summary.merge(values)


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def image_panel(image, label, prediction, colors, ignore_label):
    """[input | ground truth overlay | prediction overlay] side by side."""
    return np.concatenate([image, overlay(image, label, colors, 0.6, ignore_label),
                           overlay(image, prediction, colors, 0.6, ignore_label)], axis=1)


class SummaryWriter:
    def __init__(self, logdir, graph):
        # The v1 writer refuses to start outside a graph context.
        with graph.as_default():
            self.writer = v1.summary.FileWriter(logdir, graph=graph)

    def scalars(self, step, values):
        self.writer.add_summary(v1.Summary(value=[
            v1.Summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()]),
            step)

    def panels(self, step, tag, examples, colors, ignore_label):
        values = []
        for index, (image, label, prediction) in enumerate(examples):
            panel = image_panel(image, label, prediction, colors, ignore_label)
            values.append(v1.Summary.Value(tag=f"{tag}/{index}", image=v1.Summary.Image(
                height=panel.shape[0], width=panel.shape[1], colorspace=3,
                encoded_image_string=png_bytes(panel))))
        if values:
            self.writer.add_summary(v1.Summary(value=values), step)

    def serialized(self, step, summary):
        self.writer.add_summary(summary, step)

    def close(self):
        self.writer.close()
