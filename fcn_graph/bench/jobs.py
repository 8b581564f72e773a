"""Each framework measured in a process of its own.

A process's resident size is shared by everything in it: TensorFlow's freed
arenas would hide PyTorch's allocations, and either's weights would sit in
the other's baseline. So the runner writes a job (JSON: the options, the
framework's precision, where the weights and results go), starts
`python -m <worker> JOB`, and reads back the result the worker wrote. A
user error in the worker comes back as the same `FcnGraphError` class.
"""
import json
import os
import subprocess
import sys

from fcn_graph import errors

# The workers' TensorFlow start-up chatter is not the benchmark's output.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2"}
STDERR_TAIL = 2000


def run_job(module, job, path):
    """Run worker `module` on `job` (a dict) written to `path`; return its result dict."""
    with open(path, "w") as f:
        json.dump(job, f)
    done = subprocess.run([sys.executable, "-m", module, path], capture_output=True, text=True,
                          env={**QUIET, **os.environ})
    result = read_result(path)
    if done.returncode == 0 and result is not None:
        return result
    if result is not None and "error" in result:
        raise getattr(errors, result["type"], errors.FcnGraphError)(result["error"])
    raise RuntimeError(f"{module} failed (exit {done.returncode}):\n"
                       f"{done.stderr[-STDERR_TAIL:]}")


def read_result(path):
    result_path = path + ".result"
    if not os.path.exists(result_path):
        return None
    with open(result_path) as f:
        return json.load(f)


def worker_main(measure, argv=None):
    """The worker's entry: `measure(job)` -> result dict, written beside the job."""
    path = (argv or sys.argv)[1]
    with open(path) as f:
        job = json.load(f)
    try:
        result = measure(job)
        code = 0
    except errors.FcnGraphError as err:
        result, code = {"error": str(err), "type": type(err).__name__}, 1
    with open(path + ".result", "w") as f:
        json.dump(result, f)
    return code
