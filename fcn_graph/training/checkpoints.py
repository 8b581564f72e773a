"""Checkpoints that a killed run cannot corrupt, keeping the last K.

What TensorFlow already guarantees: the V2 Saver writes tensors under a
`<prefix>_temp` directory and merges them into the final files, writing the
`.index` last; the `checkpoint` state file is replaced atomically (temp
file + rename). What it does not: `Saver.save` updates the state file
before it writes the `.meta` graph and prunes old checkpoints on its own
schedule, and a save killed halfway leaves its temporary files behind.

So here the saver writes data only (no meta graph: models are rebuilt from
`config.json`), the new checkpoint is read back, and only then does the
state file point at it and are older checkpoints beyond the last K deleted.
What is kept is decided from the files in the directory, not from the state
file: checkpoints are ordered by their step, nothing newer than the one
just saved is touched, and a checkpoint known to be incomplete (no index,
or found damaged when the run resumed) is deleted once a newer one is
complete. A disk that fills up, or a directory that cannot be written,
ends the run with one line naming the directory.

With `--keep-best`, `BestCheckpoint` also keeps a copy of the checkpoint
that scored the highest validation mean IU in `checkpoints/best/`, outside
the rotation: the new copy is complete and the run record names it before
the previous best is deleted.
"""
import contextlib
import math
import os
import shutil

import tensorflow as tf

from fcn_graph.errors import TrainingError
from fcn_graph.rundir import (CHECKPOINT_PREFIX, STATE_FILE, checkpoint_step, prefix_step,
                              quiet_tensorflow_logger, saved_checkpoints)

# What a killed save leaves: the saver's shard directory and the bundle writer's
# temporary files (`model.ckpt-N.index.tempstate<random>`), and the state file's
# temporary copy (`checkpoint.tmp<uuid>`).
PARTIAL_SAVE_PATTERNS = ("*_temp", "*.tempstate*", STATE_FILE + ".tmp*")
# Under the checkpoint directory: the --keep-best copy, outside the rotation.
BEST_DIR = "best"
# File-system failures as TensorFlow reports them: no space (ENOSPC, EDQUOT), no
# permission (EACCES, EROFS), file too large (EFBIG), not a directory (ENOTDIR).
WRITE_ERRORS = (OSError, tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError,
                tf.errors.OutOfRangeError, tf.errors.FailedPreconditionError)


class Checkpointer:
    """Saves `model.ckpt-<step>` in `directory`, keeping the newest `keep`.

    `incomplete` lists checkpoints found unusable when the run resumed; they
    are deleted once a newer checkpoint is complete.
    """

    def __init__(self, directory, saver, keep, incomplete=()):
        self.directory = directory
        self.saver = saver
        self.keep = keep
        self.incomplete = set(incomplete)

    def kept(self):
        with quiet_tensorflow_logger():
            state = tf.train.get_checkpoint_state(self.directory)
        return list(state.all_model_checkpoint_paths) if state else []

    def save(self, sess, step):
        with written_to(self.directory, f"checkpoint of step {step}"):
            os.makedirs(self.directory, exist_ok=True)
            prefix = self.saver.save(sess, os.path.join(self.directory, CHECKPOINT_PREFIX),
                                     global_step=step, write_meta_graph=False, write_state=False)
            if checkpoint_step(prefix) != step:
                raise OSError(f"checkpoint {prefix} did not read back with step {step}")
            self.incomplete.discard(prefix)  # written over
            older = [p for p in saved_checkpoints(self.directory) if prefix_step(p) < step]
            broken = [p for p in older
                      if p in self.incomplete or not os.path.isfile(p + ".index")]
            usable = [p for p in older if p not in broken]
            kept = usable[max(len(usable) - (self.keep - 1), 0):] + [prefix]
            with quiet_tensorflow_logger():
                # Its deprecation notice points at CheckpointManager, which has no
                # way to check a checkpoint before the state file names it.
                # Names relative to the directory, so a moved or copied run still resumes.
                tf.compat.v1.train.update_checkpoint_state(
                    self.directory, os.path.basename(prefix),
                    all_model_checkpoint_paths=[os.path.basename(p) for p in kept])
            for old in broken + [p for p in usable if p not in kept]:
                remove_checkpoint(old)
                self.incomplete.discard(old)
        return prefix


class BestCheckpoint:
    """The checkpoint of the best validation mean IU so far, in `directory`.

    `best` is the run record's entry when a run resumes (so a resumed run
    only replaces it with something better); `on_new_best(entry)` records a
    new one (the run record) before the previous copy is deleted.
    """

    def __init__(self, directory, run_dir, saver, on_new_best, best=None):
        self.directory = directory
        self.run_dir = run_dir
        self.saver = saver
        self.on_new_best = on_new_best
        self.mean_iu = best["mean_iu"] if best else -math.inf

    def consider(self, sess, step, mean_iu):
        """Keep the current weights when `mean_iu` beats the best; returns the new entry or None."""
        if not mean_iu > self.mean_iu:  # NaN never wins
            return None
        with written_to(self.directory, f"best checkpoint (step {step})"):
            os.makedirs(self.directory, exist_ok=True)
            prefix = self.saver.save(sess, os.path.join(self.directory, CHECKPOINT_PREFIX),
                                     global_step=step, write_meta_graph=False,
                                     write_state=False)
            if checkpoint_step(prefix) != step:
                raise OSError(f"checkpoint {prefix} did not read back with step {step}")
            entry = {"checkpoint": os.path.relpath(prefix, self.run_dir), "step": int(step),
                     "mean_iu": float(mean_iu)}
            self.on_new_best(entry)
            for old in saved_checkpoints(self.directory):
                if old != prefix:
                    remove_checkpoint(old)
        self.mean_iu = mean_iu
        return entry


def remove_checkpoint(prefix):
    # The index first: a deletion cut short leaves files that read as incomplete.
    paths = sorted(tf.io.gfile.glob(glob_escape(prefix) + ".*"),
                   key=lambda path: not path.endswith(".index"))
    for path in paths:
        tf.io.gfile.remove(path)


def remove_partial_saves(directory):
    """Delete what saves killed halfway left in `directory`; returns the paths removed."""
    if not os.path.isdir(directory):
        return []
    removed = sorted(path for pattern in PARTIAL_SAVE_PATTERNS
                     for path in tf.io.gfile.glob(os.path.join(glob_escape(directory), pattern)))
    for path in removed:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return removed


@contextlib.contextmanager
def written_to(directory, what):
    """Turn a failed write into a TrainingError naming `directory`, without TensorFlow's hint
    about out-of-memory tensors that a full disk's ResourceExhaustedError carries."""
    try:
        yield
    except WRITE_ERRORS as err:
        reason = err.message if isinstance(err, tf.errors.OpError) else str(err)
        raise TrainingError(
            f"could not write the {what} to {directory}: {reason.splitlines()[0]}; free space "
            f"there or fix its permissions (the checkpoints saved before are intact: continue "
            f"with --resume)") from err


def glob_escape(path):
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)
