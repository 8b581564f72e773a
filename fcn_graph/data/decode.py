"""TF decoding ops shared by the file and TFRecord readers of the input pipeline."""
import tensorflow as tf

from fcn_graph.data.base import IGNORE_LABEL


def decode_image(contents):
    """Encoded PNG/JPEG/BMP/GIF bytes -> uint8 HxWx3; grayscale and RGBA become RGB."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False, dtype=tf.uint8)
    return tf.ensure_shape(image, [None, None, 3])


def check_label_range(label, num_classes, where):
    """An assertion that every label is a class id below num_classes or the ignore label."""
    values = tf.cast(label, tf.int32)
    valid = tf.logical_or(tf.less(values, num_classes), tf.equal(values, IGNORE_LABEL))
    return tf.debugging.Assert(
        tf.reduce_all(valid),
        [f"label values outside [0, {num_classes}) and not {IGNORE_LABEL}; run `fcn-graph data check`:",
         where, "max value", tf.reduce_max(values)])
