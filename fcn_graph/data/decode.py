"""Decoding steps shared by the file and TFRecord readers of the input pipeline.

Images are decoded in Python by the data layer's one image reader
(`labels.read_image_rgb`, or `labels.decode_image_rgb` for bytes), so the pipeline sees every image exactly as a
check or a prediction does (16-bit, palette and animated files included),
and a file that fails to decode raises a DataError naming it. Inside the
graph that error reaches `Session.run` as tf.errors.InvalidArgumentError
whose message quotes "DataError: <message>"; an image and label of
different sizes fail an assertion naming both files. `data_error_in` turns
either back into a one-line DataError.
"""
import re

import tensorflow as tf

from fcn_graph.data.base import IGNORE_LABEL, DataError

# tf.data quotes a Python exception as "...: DataError: <message>" (or "fcn_graph.errors.DataError: ...").
DATA_ERROR_LINE = re.compile(r"\bDataError: (.+)$")
SIZE_MISMATCH = "image and label differ in size: "


def python_image(read, *args):
    """uint8 HxWx3 from `read`, a Python function of the byte strings of the string tensors `args`."""
    return _from_python(read, args, [None, None, 3])


def python_label(read, *args):
    """uint8 HxW from `read`, a Python function of the byte strings of the string tensors `args`."""
    return _from_python(read, args, [None, None])


def _from_python(read, args, shape):
    return tf.ensure_shape(tf.numpy_function(read, list(args), tf.uint8, stateful=False), shape)


def check_label_range(label, num_classes, where):
    """An assertion that every label is a class id below num_classes or the ignore label."""
    values = tf.cast(label, tf.int32)
    valid = tf.logical_or(tf.less(values, num_classes), tf.equal(values, IGNORE_LABEL))
    return tf.debugging.Assert(
        tf.reduce_all(valid),
        [f"label values outside [0, {num_classes}) and not {IGNORE_LABEL}; run `fcn-graph data check`:",
         where, "max value", tf.reduce_max(values)])


def checked_label(image, label, num_classes, image_where, label_where):
    """`label`, passed on only once it matches the image's size and holds valid values."""
    image_size, label_size = tf.shape(image)[:2], tf.shape(label)
    same_size = tf.debugging.Assert(tf.reduce_all(tf.equal(image_size, label_size)), [tf.strings.join([
        SIZE_MISMATCH, "label ", label_where, " is ", _size_text(label_size), " but its image ", image_where,
        " is ", _size_text(image_size), "; re-export the label at the image's size "
        "(`fcn-graph data check` lists every such pair)"])])
    in_range = check_label_range(label, num_classes, label_where)
    with tf.control_dependencies([same_size, in_range]):
        return tf.identity(label)


def _size_text(size):
    return tf.strings.join([tf.strings.as_string(size[1]), "x", tf.strings.as_string(size[0])])


def data_error_in(err):
    """The DataError behind a tf.errors.OpError raised by the input pipeline, or None.

    Recognises a DataError raised by a Python decoding step (its message
    line "DataError: ...") and the image/label size assertion.
    """
    for line in err.message.splitlines():
        raised = DATA_ERROR_LINE.search(line)
        if raised:
            return DataError(raised.group(1))
        start = line.find(SIZE_MISMATCH)
        if start >= 0:
            return DataError(line[start + len(SIZE_MISMATCH):].rstrip("]"))
    return None
