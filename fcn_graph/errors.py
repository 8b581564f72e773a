"""The errors fcn-graph reports to its users.

Every error a user can cause (a bad setting, file, dataset, checkpoint or
weight file, a run that diverged) is an `FcnGraphError` whose message names
the thing at fault and the fix. The command line catches only these, prints
the message on one line and exits 1 (`UsageError`: 2, as argparse does);
anything else is a bug and keeps its traceback.

The subclasses also derive from the built-in exception a Python caller
would expect (ValueError for bad values, FileExistsError for a refused
overwrite), so `except ValueError` in user code keeps working.
"""


class FcnGraphError(Exception):
    """Base of every user-facing error; the message says what is wrong and how to fix it."""
    exit_status = 1


class UsageError(FcnGraphError, ValueError):
    """A command line that cannot work: a missing or contradictory flag."""
    exit_status = 2


class SettingsError(FcnGraphError, ValueError):
    """A training, model or inference setting out of range or contradicting another."""


class DataError(FcnGraphError, ValueError):
    """A dataset, image or label file that cannot be used; names the file and the fix."""


class WeightsError(FcnGraphError, ValueError):
    """A weight file that cannot be loaded or does not fit the network."""


class CheckpointError(FcnGraphError, ValueError):
    """A run directory or checkpoint that cannot be restored; names the path and the fix."""


class TrainingError(FcnGraphError, RuntimeError):
    """Training cannot go on (diverged, labels out of range); says why and what to do."""


class OutputExistsError(FcnGraphError, FileExistsError):
    """An output would overwrite an existing file or directory."""


class MissingDependencyError(FcnGraphError, ImportError):
    """An optional package a feature needs is not installed; names the pip command."""
