"""Staged training: start FCN-16s from FCN-32s, FCN-8s from FCN-16s, by layer name.

As in the reference, every parameter the two networks share (same name,
same shape) is copied, new layers keep their initialisers (zero score
layers), and the deconvolution ("up") layers are set to the bilinear
kernel again rather than copied. Only model parameters (`<layer>/weights`,
`<layer>/biases`) are taken: the previous stage's optimizer slots and
global step start afresh. Resuming the *same* stage is the trainer's
ordinary Saver, which restores everything.
"""
import logging

import tensorflow as tf

from fcn_graph.errors import WeightsError
from fcn_graph.weights.slim import checkpoint_prefix

log = logging.getLogger(__name__)

PARAMETER_KINDS = ("weights", "biases")


def is_upsampling(layer):
    """The reference resets every layer whose name contains "up" to bilinear weights."""
    return "up" in layer


class StagedInit:
    """Built with the graph; `restore(sess)` then initialises every global variable.

    `scope` is the graph's FCN scope and `checkpoint_scope` the one the
    previous stage was saved under (both None for unscoped networks).
    After construction, `taken` lists the graph variables copied from the
    checkpoint, `fresh` those that keep their initialisers, and `skipped`
    maps each checkpoint variable not used to the reason.
    """

    def __init__(self, checkpoint, scope=None, checkpoint_scope=None, graph=None):
        graph = graph or tf.compat.v1.get_default_graph()
        self.checkpoint = checkpoint_prefix(checkpoint)
        try:
            stored = dict(tf.train.list_variables(self.checkpoint))
        except Exception as err:  # NotFoundError, DataLossError, ...
            raise WeightsError(f"{checkpoint}: unreadable checkpoint "
                               f"({str(err).splitlines()[0]})") from None
        prefix = f"{scope}/" if scope else ""
        stored_prefix = f"{checkpoint_scope}/" if checkpoint_scope else ""
        taken, fresh = {}, []
        self.skipped = {}
        for variable in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES):
            name = variable.op.name
            relative = name[len(prefix):] if name.startswith(prefix) else None
            layer, _, kind = (relative or "").rpartition("/")
            stored_name = stored_prefix + (relative or "")
            shape = variable.shape.as_list()
            if (relative and kind in PARAMETER_KINDS and "/" not in layer
                    and not is_upsampling(layer) and stored.get(stored_name) == shape):
                taken[stored_name] = variable
            else:
                fresh.append(variable)
                if stored_name in stored and relative:
                    self.skipped[stored_name] = self.reason(layer, kind, stored[stored_name],
                                                            shape)
        for stored_name in stored:
            if stored_name not in taken and stored_name not in self.skipped:
                self.skipped[stored_name] = "not in this network"
        if not taken:
            raise WeightsError(f"{checkpoint}: shares no layer with this network (scope "
                               f"{scope!r}, checkpoint scope {checkpoint_scope!r})")
        self.taken = sorted(v.op.name for v in taken.values())
        self.fresh = sorted(v.op.name for v in fresh)
        self._saver = tf.compat.v1.train.Saver(var_list=taken, name="staged_init_saver")
        self._initialize_fresh = tf.compat.v1.variables_initializer(fresh,
                                                                    name="staged_init_fresh")

    @staticmethod
    def reason(layer, kind, stored_shape, shape):
        if kind not in PARAMETER_KINDS or "/" in layer:
            return "optimizer or training state, restarted"
        if is_upsampling(layer):
            return "upsampling layer, reset to bilinear"
        return f"shape {stored_shape} in checkpoint, {shape} in this network"

    def restore(self, sess):
        """Initialise the fresh variables and copy the taken ones from the checkpoint."""
        sess.run(self._initialize_fresh)
        # Saver.restore takes its eager path unless the session's graph is the default.
        with sess.graph.as_default():
            self._saver.restore(sess, self.checkpoint)
        log.info("staged init from %s: %d variables taken, %d fresh (%s)", self.checkpoint,
                 len(self.taken), len(self.fresh), ", ".join(self.fresh))
        return self.taken
