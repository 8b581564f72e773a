"""Layers: dropout masks come from the stream they are given, whatever else the graph holds."""
import numpy as np
import tensorflow as tf

from fcn_graph import layers

v1 = tf.compat.v1


def three_masks(pass_stream):
    """Masks of two runs at one counter value, then of a run after advancing the counter.

    The graph always holds a random stream, built before the dropout.
    """
    with tf.Graph().as_default():
        v1.set_random_seed(1)
        stream = layers.create_random_stream()
        dropped = layers.dropout(tf.ones([256]), 0.5, tf.constant(True), "drop",
                                 stream if pass_stream else None)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            first, second = sess.run(dropped), sess.run(dropped)
            sess.run(stream.assign_add(1))
            return first, second, sess.run(dropped)


def test_masks_follow_the_stream_they_are_given():
    first, second, advanced = three_masks(pass_stream=True)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, advanced)


def test_a_stream_in_the_graph_that_dropout_is_not_given_changes_nothing():
    first, second, _ = three_masks(pass_stream=False)
    assert not np.array_equal(first, second)  # TensorFlow's stateful generator moves on
