"""A whole cluster on this machine, as `fcn-graph cluster local` runs one.

Each task is an `fcn-graph train` process with its own TF_CONFIG, every
address a free port on 127.0.0.1, so all cluster traffic stays on
loopback. Their output comes out line by line, prefixed with the task
(`[worker:0] ...`). A worker that dies is started again and rejoins the
run; when the chief ends, finished or failed, every other task is stopped
and the chief's exit status is the cluster's. A ps task that dies makes
the chief stop with a message, which ends the cluster the same way.
"""
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from fcn_graph.distributed.spec import ROLES, ClusterTask

POLL_S = 0.2
STOP_GRACE_S = 20.0
# Times a worker is started again: one that keeps failing fails for a reason of its own.
WORKER_RESTARTS = 3


def free_ports(count):
    """`count` distinct ports free on 127.0.0.1 now (held together, so no two coincide)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                   for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def local_tasks(workers, ps):
    """The ClusterTasks of a cluster of `workers` training processes (the first the chief) and
    `ps` parameter servers, on loopback."""
    ports = iter(free_ports(workers + ps))
    counts = {"chief": 1, "worker": workers - 1, "ps": ps}
    jobs = tuple((role, tuple(f"127.0.0.1:{next(ports)}" for _ in range(counts[role])))
                 for role in ROLES if counts[role])
    return [ClusterTask(jobs, role, index) for role, addresses in jobs
            for index in range(len(addresses))]


class LocalCluster:
    """The processes of a local cluster; a context manager that leaves none running.

    `train_args` are the `fcn-graph train` flags every task gets. Output
    lines go to `out` with their task's prefix and are kept, by task, for
    `wait_for`.
    """

    def __init__(self, workers, ps, train_args, out=None, env=None, python=sys.executable):
        self.tasks = {task.name: task for task in local_tasks(workers, ps)}
        self.train_args = [str(a) for a in train_args]
        self.out = out or sys.stdout
        self.env = dict(os.environ if env is None else env)
        self.python = python
        self.processes = {}
        self.readers = {}
        self.lines = {name: [] for name in self.tasks}
        self.restarts = {name: 0 for name in self.tasks}
        self.lock = threading.Lock()
        self.stop_requested = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Every task, ps tasks first."""
        for name in sorted(self.tasks, key=lambda name: not self.tasks[name].is_ps):
            self.start_task(name)

    def start_task(self, name, extra_args=()):
        task = self.tasks[name]
        env = dict(self.env, TF_CONFIG=task.to_tf_config(), PYTHONUNBUFFERED="1")
        if task.is_ps:
            env["CUDA_VISIBLE_DEVICES"] = ""  # a ps holds variables in host memory
        process = subprocess.Popen(
            [self.python, "-m", "fcn_graph.cli", "train", *self.train_args, *extra_args],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        self.processes[name] = process
        reader = threading.Thread(target=self.relay, args=(name, process), daemon=True)
        reader.start()
        self.readers[name] = reader
        return process

    def relay(self, name, process):
        for line in process.stdout:
            line = line.rstrip("\n")
            with self.lock:
                self.lines[name].append(line)
                print(f"[{name}] {line}", file=self.out, flush=True)

    def write(self, line):
        with self.lock:
            print(f"[cluster] {line}", file=self.out, flush=True)

    def wait_for(self, name, pattern, timeout):
        """The first line of task `name` matching regex `pattern`, from its start; TimeoutError
        after `timeout` seconds, RuntimeError as soon as the task has ended without one."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            ended = self.processes[name].poll() is not None
            if ended:
                self.readers[name].join(STOP_GRACE_S)  # its last lines
            with self.lock:
                lines = self.lines[name][seen:]
            for line in lines:
                if re.search(pattern, line):
                    return line
            seen += len(lines)
            if ended:
                last = "\n".join(self.lines[name][-5:])
                raise RuntimeError(f"{name} ended with status {self.processes[name].returncode} "
                                   f"before printing a line matching {pattern!r}:\n{last}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} printed no line matching {pattern!r} in {timeout} s")
            time.sleep(POLL_S)

    def kill(self, name, signum=signal.SIGKILL):
        """Send `signum` to task `name` and wait for it to end."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signum)
        process.wait()

    def supervise(self, timeout=None):
        """Run until the chief ends; returns its exit status (128 + N for signal N), or None
        after `timeout` seconds. Failed workers are started again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chief = next(name for name, task in self.tasks.items() if task.is_chief)
        with forwarded_stop_signals(self):
            while True:
                status = self.processes[chief].poll()
                if status is not None:
                    return 128 - status if status < 0 else status
                if deadline is not None and time.monotonic() > deadline:
                    self.write(f"stopping every task after {timeout:g} s")
                    return None
                self.restart_failed_workers()
                time.sleep(POLL_S)

    def restart_failed_workers(self):
        for name, process in list(self.processes.items()):
            task = self.tasks[name]
            if task.is_ps or task.is_chief or process.poll() in (None, 0):
                continue
            if self.restarts[name] >= WORKER_RESTARTS or self.stop_requested:
                continue
            self.restarts[name] += 1
            self.write(f"{name} ended with status {process.returncode}; starting it again")
            self.start_task(name)

    def stop(self):
        """Stop every task still running, the ps tasks last (a worker still at work would
        report them lost): SIGTERM (the chief saves a checkpoint), then SIGKILL after a grace
        period."""
        for ps in (False, True):
            running = [process for name, process in self.processes.items()
                       if self.tasks[name].is_ps == ps and process.poll() is None]
            for process in running:
                process.terminate()
            deadline = time.monotonic() + STOP_GRACE_S
            for process in running:
                try:
                    process.wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for reader in self.readers.values():
            reader.join(STOP_GRACE_S)


@contextlib.contextmanager
def forwarded_stop_signals(cluster):
    """SIGINT/SIGTERM to the supervisor reach every task (the chief saves and stops)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, frame):
        cluster.stop_requested = signum
        for process in cluster.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
