"""Importing TensorFlow without its C++ start-up lines on the terminal.

TensorFlow's native libraries write "All log messages before
absl::InitializeLog() ..." and the oneDNN notice straight to file
descriptor 2 while they load; no environment variable silences all of them.
Importing this module imports TensorFlow with descriptor 2 pointing at a
temporary file, and restores it after. If the import fails, what was
captured is written out before the error propagates, so a real problem is
never hidden. `--verbose` anywhere on the command line shows the lines.

The command line imports this module before anything that imports
TensorFlow.
"""
import os
import sys
import tempfile

VERBOSE = "--verbose" in sys.argv[1:]
if not VERBOSE:
    # TensorFlow's logging below warnings stays quiet as well; --verbose keeps its own level,
    # so the start-up notices at INFO level (oneDNN, unused CPU instructions) show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_quiet = not VERBOSE and "tensorflow" not in sys.modules
if _quiet:
    sys.stderr.flush()
    _saved_stderr = os.dup(2)
    _captured = tempfile.TemporaryFile()
    os.dup2(_captured.fileno(), 2)
try:
    import tensorflow  # noqa: F401,E402  (the import is the point)
except BaseException:
    if _quiet:
        os.dup2(_saved_stderr, 2)
        _captured.seek(0)
        sys.stderr.write(_captured.read().decode(errors="replace"))
    raise
finally:
    if _quiet:
        os.dup2(_saved_stderr, 2)
        os.close(_saved_stderr)
        _captured.close()
