"""Checkpoints that a killed run cannot corrupt, keeping the last K.

What TensorFlow already guarantees: the V2 Saver writes tensors under a
`<prefix>_temp` directory and merges them into the final files, writing the
`.index` last; the `checkpoint` state file is replaced atomically (temp
file + rename). What it does not: `Saver.save` updates the state file
before it writes the `.meta` graph and prunes old checkpoints on its own
schedule. So here the saver writes data only (no meta graph: models are
rebuilt from `config.json`), the new checkpoint is read back, and only
then does the state file point at it and are checkpoints beyond the last
K deleted.
"""
import contextlib
import logging
import os

import tensorflow as tf

from fcn_graph.rundir import CHECKPOINT_PREFIX, checkpoint_step


class Checkpointer:
    def __init__(self, directory, saver, keep):
        self.directory = directory
        self.saver = saver
        self.keep = keep

    def kept(self):
        state = tf.train.get_checkpoint_state(self.directory)
        return list(state.all_model_checkpoint_paths) if state else []

    def save(self, sess, step):
        os.makedirs(self.directory, exist_ok=True)
        prefix = self.saver.save(sess, os.path.join(self.directory, CHECKPOINT_PREFIX),
                                 global_step=step, write_meta_graph=False, write_state=False)
        if checkpoint_step(prefix) != step:
            raise OSError(f"checkpoint {prefix} did not read back with step {step}")
        kept = [p for p in self.kept() if p != prefix] + [prefix]
        with quiet_tensorflow_logger():
            # Its deprecation notice points at CheckpointManager, which has no
            # way to check a checkpoint before the state file names it.
            # Names relative to the directory, so a moved or copied run still resumes.
            tf.compat.v1.train.update_checkpoint_state(
                self.directory, os.path.basename(prefix),
                all_model_checkpoint_paths=[os.path.basename(p) for p in kept[-self.keep:]])
        for old in kept[:-self.keep]:
            for path in tf.io.gfile.glob(glob_escape(old) + ".*"):
                tf.io.gfile.remove(path)
        return prefix


@contextlib.contextmanager
def quiet_tensorflow_logger():
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def glob_escape(path):
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)
