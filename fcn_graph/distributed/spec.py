"""Which cluster a training process belongs to, and which of its tasks it is.

A cluster is described as TensorFlow describes one: the `TF_CONFIG`
environment variable,

    {"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222"], "ps": ["host0:2223"]},
     "task": {"type": "worker", "index": 0}}

or the same with the `--cluster` and `--task` settings, which win over the
variable: `--cluster chief=host0:2222,worker=host1:2222,ps=host0:2223`
(repeat a role for each of its tasks, in index order; a JSON object as in
TF_CONFIG's "cluster" works too) and `--task worker:0`.

Roles: `chief` (trains, and alone initialises, validates and writes the
run directory), `worker` (trains) and `ps` (holds the variables and only
serves). The workers of a run are the chief followed by the `worker`
tasks; a cluster without a chief task makes `worker:0` the chief.
"""
import dataclasses
import json
import os
import re

import tensorflow as tf

from fcn_graph.errors import SettingsError

ROLES = ("chief", "worker", "ps")
TASK_PATTERN = re.compile(r"^(chief|worker|ps):(\d+)$")


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """One task of a cluster: `jobs` maps each role to its addresses (index order)."""
    jobs: tuple  # ((role, (address, ...)), ...) in ROLES order
    role: str
    index: int

    def addresses(self, role):
        return dict(self.jobs).get(role, ())

    @property
    def workers(self):
        """(role, index) of every training task, the chief first."""
        return [(role, i) for role in ("chief", "worker") for i in range(len(self.addresses(role)))]

    @property
    def num_workers(self):
        return len(self.workers)

    @property
    def num_ps(self):
        return len(self.addresses("ps"))

    @property
    def is_ps(self):
        return self.role == "ps"

    @property
    def worker_index(self):
        """This task's place among the workers (the chief's is 0); the shard of data it reads."""
        return self.workers.index((self.role, self.index))

    @property
    def is_chief(self):
        return not self.is_ps and self.worker_index == 0

    @property
    def name(self):
        return f"{self.role}:{self.index}"

    @property
    def address(self):
        return self.addresses(self.role)[self.index]

    @property
    def device(self):
        return device_of(self.role, self.index)

    def worker_name(self, worker_index):
        role, index = self.workers[worker_index]
        return f"{role}:{index}"

    def cluster_spec(self):
        return tf.compat.v1.train.ClusterSpec({role: list(addresses)
                                               for role, addresses in self.jobs})

    def to_tf_config(self):
        """The TF_CONFIG text that makes a process this task."""
        return json.dumps({"cluster": {role: list(addresses) for role, addresses in self.jobs},
                           "task": {"type": self.role, "index": self.index}})


def device_of(role, index):
    return f"/job:{role}/task:{index}"


def parse_cluster(text, origin="--cluster"):
    """{role: [address, ...]} from 'ROLE=HOST:PORT,...' or a JSON object; checked."""
    text = text.strip()
    if text.startswith("{"):
        try:
            jobs = json.loads(text)
        except json.JSONDecodeError as err:
            raise SettingsError(f"{origin}: not valid JSON ({err})") from err
    else:
        jobs = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            role, equals, address = part.partition("=")
            if not equals:
                raise SettingsError(f"{origin}: {part!r} is not ROLE=HOST:PORT; write e.g. "
                                    f"chief=host0:2222,worker=host1:2222,ps=host0:2223")
            jobs.setdefault(role.strip(), []).append(address.strip())
    return checked_jobs(jobs, origin)


def checked_jobs(jobs, origin):
    if not isinstance(jobs, dict):
        raise SettingsError(f"{origin}: the cluster must map roles to address lists")
    unknown = sorted(set(jobs) - set(ROLES))
    if unknown:
        raise SettingsError(f"{origin}: role {unknown[0]!r} is not one of {', '.join(ROLES)} "
                            f"(the chief validates; there is no separate evaluator)")
    addresses = [a for role in ROLES for a in jobs.get(role, [])]
    for address in addresses:
        host, colon, port = str(address).rpartition(":")
        if not colon or not host or not port.isdigit():
            raise SettingsError(f"{origin}: address {address!r} is not HOST:PORT")
    if len(set(addresses)) != len(addresses):
        raise SettingsError(f"{origin}: an address is given to two tasks; each task needs its "
                            f"own HOST:PORT")
    if len(jobs.get("chief", [])) > 1:
        raise SettingsError(f"{origin}: a cluster has at most one chief")
    if not jobs.get("chief") and not jobs.get("worker"):
        raise SettingsError(f"{origin}: the cluster has no chief or worker to train")
    if not jobs.get("ps"):
        raise SettingsError(f"{origin}: the cluster needs at least one ps task to hold the "
                            f"variables, e.g. ps=HOST:PORT")
    return {role: [str(a) for a in jobs[role]] for role in ROLES if jobs.get(role)}


def parse_task(text, origin="--task"):
    match = TASK_PATTERN.match(text.strip())
    if not match:
        raise SettingsError(f"{origin}: {text!r} is not ROLE:INDEX with a role among "
                            f"{', '.join(ROLES)}, e.g. worker:0")
    return match.group(1), int(match.group(2))


def cluster_task(cluster=None, task=None, environ=None):
    """This process's ClusterTask from the settings, else from TF_CONFIG; None on one machine."""
    environ = os.environ if environ is None else environ
    if bool(cluster) != bool(task):
        given, missing = ("--cluster", "--task") if cluster else ("--task", "--cluster")
        raise SettingsError(f"{given} needs {missing} as well (or neither, to read TF_CONFIG)")
    if cluster:
        jobs, (role, index), origin = parse_cluster(cluster), parse_task(task), "--task"
    else:
        text = environ.get("TF_CONFIG", "").strip()
        if not text:
            return None
        jobs, (role, index) = from_tf_config(text)
        origin = "TF_CONFIG"
    if index >= len(jobs.get(role, [])):
        raise SettingsError(f"{origin}: task {role}:{index} is not in the cluster, which has "
                            f"{len(jobs.get(role, []))} {role} task(s)")
    return ClusterTask(tuple((r, tuple(jobs[r])) for r in ROLES if r in jobs), role, index)


def from_tf_config(text):
    try:
        described = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(f"TF_CONFIG is not valid JSON ({err}); unset it to train on one "
                            f"machine") from err
    task = described.get("task") if isinstance(described, dict) else None
    if not isinstance(task, dict) or "type" not in task:
        raise SettingsError('TF_CONFIG has no "task": {"type": ROLE, "index": N}; every process '
                            'of a cluster needs its own')
    jobs = checked_jobs(described.get("cluster") or {}, "TF_CONFIG")
    role, index = parse_task(f"{task['type']}:{task.get('index', 0)}", "TF_CONFIG")
    return jobs, (role, index)
