"""Op determinism for the duration of one run.

TensorFlow's switch is process-wide; a run that turns it on turns it back
off when it ends, so other graphs in the same process (tests, notebooks,
evaluation after training) keep their own behaviour.
"""
import contextlib

import tensorflow as tf
from tensorflow.python.framework import config as tf_config


@contextlib.contextmanager
def op_determinism(enabled):
    was_enabled = tf_config.is_op_determinism_enabled()
    if enabled and not was_enabled:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was_enabled:
            tf_config.disable_op_determinism()
