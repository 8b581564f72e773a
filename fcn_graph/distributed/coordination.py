"""A training process's part in a run: alone on one machine, or one task of a cluster.

`join(cluster, task)` gives the training loop its Replica: `OneMachine`, or
a `ClusterReplica` whose TensorFlow server is started (a `ps` task only
serves). The loop asks the replica where to place the graph, which shard
of the data to read, for its session, to initialise, and to finish each
update. Between-graph replication: every worker builds the whole training
graph, variables on the ps tasks, and runs it in its own session.

The chief alone initialises (backbone or checkpoint restore included),
validates and writes the run directory. It publishes, on ps task 0, the
run's record (the config.json it writes), a `ready` flag and an
incarnation number that changes whenever a chief starts. A worker waits
for `ready`, builds its graph from the published record at the published
global step and stream position (its own, saved per worker in the
checkpoints as `cluster/input_positions`), and never writes a file. When
a worker sees a new incarnation (the chief was restarted and restored a
checkpoint), it starts over from the chief's position: `Rejoin`.

Waits for other tasks are short blocking runs repeated, so a stop signal
is noticed within a second and a long wait is reported. A ps that goes
away fails the next run of every task with UnavailableError, which ends
the run with a TrainingError saying how to continue.
"""
import contextlib
import json
import sys
import threading
import time

import tensorflow as tf

from fcn_graph.distributed.placement import (BOOKKEEPING_SCOPE, RANDOM_STREAM, first_ps,
                                             replica_placement)
from fcn_graph.distributed.spec import cluster_task
from fcn_graph.errors import SettingsError, TrainingError
from fcn_graph.rundir import RunRecord

v1 = tf.compat.v1

POSITIONS_VARIABLE = f"{BOOKKEEPING_SCOPE}/input_positions"
# Bookkeeping that the chief sets at each start: neither saved nor initialised with the model.
BOOKKEEPING_COLLECTION = "fcn_graph_cluster_bookkeeping"
WAIT_TICK_MS = 1000
FIRST_WAIT_REPORT_S = 30.0
WAIT_REPORT_EVERY_S = 60.0
CLOSE_TIMEOUT_S = 10.0
# What the runtime raises when a task it talks to is gone.
LOST_TASK_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError)


class Rejoin(Exception):
    """The chief started over from a checkpoint: this worker joins again at the chief's step."""


class OneMachine:
    """A run on one machine: the loop's plain behaviour."""
    task = None
    is_chief = True
    is_ps = False
    index = 0
    shard = None

    def placement(self):
        return contextlib.nullcontext()

    def coordinate(self, global_step, update, position, record, resume_from, start_position):
        return None

    def restored(self, variables):
        return variables

    def session(self, graph, config):
        return v1.Session(graph=graph, config=config)

    def initialize(self, sess, coordination, initialize, log):
        initialize()

    def finish_update(self, sess, coordination, step, stop):
        return step + 1

    def rejoining(self, start):
        return start()


ONE_MACHINE = OneMachine()


def join(cluster=None, task=None, environ=None):
    """This process's replica: a task of the cluster given by `cluster`/`task` (the settings)
    or TF_CONFIG, with its server started; ONE_MACHINE when neither describes one."""
    described = cluster_task(cluster, task, environ)
    if described is None:
        return ONE_MACHINE
    config = v1.ConfigProto(allow_soft_placement=True)
    config.gpu_options.allow_growth = True
    if described.is_ps:
        config.device_count["GPU"] = 0  # a ps holds variables in host memory only
    try:
        server = v1.train.Server(described.cluster_spec(), job_name=described.role,
                                 task_index=described.index, config=config, start=True)
    except tf.errors.OpError as err:
        raise SettingsError(f"{described.name} could not listen on {described.address} "
                            f"({err.message.splitlines()[0]}); is another process using the "
                            f"port?") from err
    return ClusterReplica(described, server)


@contextlib.contextmanager
def bookkeeping_scope():
    with first_ps(), v1.variable_scope(BOOKKEEPING_SCOPE):
        yield


def bookkeeping_variables(preset, record_text="", incarnation=0):
    """(ready, incarnation, record, published positions): what the chief publishes on ps task
    0 at each start; each worker then publishes its stream position after each update."""
    with bookkeeping_scope():
        collections = [BOOKKEEPING_COLLECTION]
        return (v1.get_variable("ready", initializer=tf.constant(False), trainable=False,
                                collections=collections),
                v1.get_variable("incarnation", initializer=tf.constant(incarnation, tf.int64),
                                trainable=False, collections=collections),
                v1.get_variable("record", initializer=tf.constant(record_text), trainable=False,
                                collections=collections),
                v1.get_variable("published_positions", trainable=False, collections=collections,
                                initializer=tf.constant(preset, tf.int64)))


def positions_variable(preset):
    """Examples of its input stream each worker had consumed at the last completed step:
    saved in checkpoints."""
    with bookkeeping_scope():
        return v1.get_variable("input_positions", initializer=tf.constant(preset, tf.int64),
                               trainable=False)


class Coordination:
    """The graph pieces by which one replica takes part in a cluster's run."""

    def __init__(self, task, global_step, update, position, record, preset):
        worker = task.worker_index
        start_position = preset[worker]
        self.global_step = global_step
        published = bookkeeping_variables(preset, json.dumps(record.to_dict()), time.time_ns())
        self.ready, self.incarnation, _, positions = published
        saved = positions_variable(preset)
        with first_ps():
            self.status = {"initialized": self.ready.is_initialized(),
                           "ready": self.ready.read_value(),
                           "incarnation": self.incarnation.read_value()}
            self.publish = v1.scatter_update(positions, [worker], [position.read_value()])
            # Run by the chief while every worker waits for the step to be applied, so the
            # checkpoint holds the positions of the step it saves.
            self.snapshot = saved.assign(positions)
            self.start_over = tf.group(*[v.initializer for v in published])
            self.open = self.ready.assign(True)
        self.aggregation = update.aggregation
        self.aggregate = update.aggregate
        if self.aggregation is not None:
            with tf.control_dependencies([self.publish]):
                self.post = self.aggregation.post_marker(global_step)
            self.markers = (self.aggregation.marker_count(), self.aggregation.next_marker())
            if worker:
                self.tokens = (self.aggregation.own_token_count(), self.aggregation.own_token())
            self.counts, self.clears = self.aggregation.clearing()
            self.restart_at = self.aggregation.restart_at(global_step)
        # A worker's own share of the variables: its stream position and dropout counter, its
        # accumulation sums.
        held = [v for v in v1.global_variables() if on_task(v.device, task)]
        streams = [v for v in held if v.op.name == RANDOM_STREAM]
        batch_size = record.settings["batch_size"]
        with tf.control_dependencies([v1.variables_initializer(held),
                                      v1.local_variables_initializer()]):
            # The counter steps once per batch: where it would be had this worker never stopped.
            self.worker_init = tf.group(*[v.assign(start_position // batch_size)
                                          for v in streams], name="worker_init")
        # A chief stopped while it waits for the others: its update is not applied, so its
        # stream and counter go back to where the last applied step left them.
        last = saved[worker]
        self.rewind = tf.group(position.assign(last),
                               *[v.assign(last // batch_size) for v in streams], name="rewind")


class ClusterReplica:
    """One task of a cluster (see the module docstring)."""

    def __init__(self, task, server):
        self.task = task
        self.server = server
        self.is_chief = task.is_chief
        self.is_ps = task.is_ps
        self.index = task.worker_index if not task.is_ps else None
        self.shard = (task.num_workers, self.index)
        self.joined = None  # a worker's (incarnation, step, position) when it joined
        self.log = report

    def serve(self):
        """A ps task's whole life: serve the workers until killed."""
        report(f"{self.task.name} serving at {self.task.address}")
        self.server.join()

    def placement(self):
        return replica_placement(self.task)

    def coordinate(self, global_step, update, position, record, resume_from, start_position):
        return Coordination(self.task, global_step, update, position, record,
                            self.saved_positions(resume_from, start_position))

    def saved_positions(self, resume_from, start_position):
        """Each worker's stream position: from the checkpoint resumed, else `start_position`."""
        default = [start_position] * self.task.num_workers
        if not resume_from:
            return default
        reader = tf.train.load_checkpoint(resume_from)
        if not reader.has_tensor(POSITIONS_VARIABLE):
            return default
        saved = [int(p) for p in reader.get_tensor(POSITIONS_VARIABLE)]
        # A cluster of another size splits the data differently: no position carries over.
        return saved if len(saved) == len(default) else default

    def restored(self, variables):
        """The variables a checkpoint restores: the positions are preset from it instead, and a
        checkpoint written on one machine has none."""
        return [v for v in variables if v.op.name != POSITIONS_VARIABLE]

    @contextlib.contextmanager
    def session(self, graph, config):
        """A session on this task's server that sees only the ps tasks and this task, so a
        worker that is down stops no one from starting."""
        config = v1.ConfigProto.FromString(config.SerializeToString())
        config.device_filters.extend(["/job:ps", self.task.device])
        sess = v1.Session(self.server.target, graph=graph, config=config)
        try:
            # The default graph and session, as `with Session()` makes them.
            with lost_ps_stops_the_run(), graph.as_default(), sess.as_default():
                yield sess
        finally:
            closed_within(sess, CLOSE_TIMEOUT_S)

    # ---- the run

    def initialize(self, sess, coordination, initialize, log):
        self.log = log
        if self.is_chief:
            sess.run(coordination.start_over)  # workers see the chief is not ready
            initialize()
            self.clear_left_gradients(sess, coordination)
            sess.run(coordination.open)
            return
        self.check_incarnation(sess, coordination)
        sess.run(coordination.worker_init)
        if coordination.aggregation is not None:
            count, token = coordination.tokens
            while sess.run(count):  # a token meant for this worker's previous run
                sess.run(token)

    def clear_left_gradients(self, sess, coordination):
        """Empty what a previous chief's run left in the accumulators and the marker queue,
        then take gradients of the restored global step."""
        if coordination.aggregation is None:
            return
        counts = sess.run(coordination.counts)
        left = [clear for clear, count in zip(coordination.clears, counts) if count]
        if left:
            sess.run(left)
        count, marker = coordination.markers
        while sess.run(count):
            sess.run(marker)
        sess.run(coordination.restart_at)

    def finish_update(self, sess, coordination, step, stop):
        """The global step once this update is applied: `step` unchanged when a stop signal
        came while waiting for the other workers (the chief's stream is then set back, so a
        checkpoint of `step` resumes with the update not applied)."""
        if coordination.aggregation is None:  # asynchronous: the update is applied already
            sess.run(coordination.publish)
            if self.is_chief:
                sess.run(coordination.snapshot)
            else:
                self.check_incarnation(sess, coordination)
            return int(sess.run(coordination.global_step))
        if self.is_chief:
            sess.run(coordination.publish)
            if not self.await_markers(sess, coordination, step, stop):
                sess.run(coordination.rewind)
                return step
            sess.run(coordination.snapshot)
            return int(sess.run(coordination.aggregate))
        sess.run(coordination.post)
        token = self.waiting(sess, coordination.tokens[1], stop,
                             lambda: self.check_incarnation(sess, coordination),
                             f"step {step}: waiting for the chief to apply the step")
        return step if token is None else int(token)

    def await_markers(self, sess, coordination, step, stop):
        """Wait until every other worker has pushed its gradients of `step`; False if stopped."""
        missing = set(range(1, self.task.num_workers))
        marker = coordination.markers[1]
        while missing:
            names = ", ".join(self.task.worker_name(i) for i in sorted(missing))
            posted = self.waiting(sess, marker, stop, lambda: None,
                                  f"step {step}: waiting for the gradients of {names} (a "
                                  f"stopped worker rejoins when restarted)")
            if posted is None:
                return False
            if int(posted[0]) == step:  # an older step's marker comes from a run cut short
                missing.discard(int(posted[1]))
        return True

    def waiting(self, sess, fetch, stop, check, what):
        """`fetch` once another task provides it, or None when a stop signal comes first.
        `check` runs between tries; long waits are reported."""
        options = v1.RunOptions(timeout_in_ms=WAIT_TICK_MS)
        started = time.monotonic()
        report_at = FIRST_WAIT_REPORT_S
        while not stop:
            try:
                return sess.run(fetch, options=options)
            except tf.errors.DeadlineExceededError:
                check()
            waited = time.monotonic() - started
            if waited >= report_at:
                self.log(f"{what} ({waited:.0f} s)")
                report_at += WAIT_REPORT_EVERY_S
        return None

    # ---- joining (a worker)

    def chief_record(self):
        """The chief's RunRecord, once it has initialised; notes this worker's starting point."""
        graph = tf.Graph()
        with graph.as_default():
            ready, incarnation, record, positions = bookkeeping_variables(
                [0] * self.task.num_workers)
            with first_ps():
                global_step = v1.train.get_or_create_global_step()
            initialized = ready.is_initialized()
        started, report_at = time.monotonic(), FIRST_WAIT_REPORT_S
        with self.session(graph, v1.ConfigProto()) as sess:
            while not (sess.run(initialized) and sess.run(ready)):
                time.sleep(0.2)
                waited = time.monotonic() - started
                if waited >= report_at:
                    report(f"{self.task.name}: waiting for {self.task.worker_name(0)} to "
                           f"initialise the variables ({waited:.0f} s)")
                    report_at += WAIT_REPORT_EVERY_S
            values = sess.run({"incarnation": incarnation, "record": record,
                               "step": global_step, "positions": positions})
        self.joined = (int(values["incarnation"]), int(values["step"]),
                       int(values["positions"][self.index]))
        return RunRecord.from_dict(json.loads(values["record"]))

    @property
    def joined_at(self):
        """(global step, stream position) at which this worker joined."""
        return self.joined[1], self.joined[2]

    def check_incarnation(self, sess, coordination):
        status = sess.run(coordination.status)
        if not (status["initialized"] and status["ready"]) \
                or int(status["incarnation"]) != self.joined[0]:
            raise Rejoin()

    def rejoining(self, start):
        """`start()`, started again whenever the chief starts over under this worker."""
        while True:
            try:
                return start()
            except Rejoin:
                report(f"{self.task.name}: the chief started over; joining again at its step")


def report(line):
    print(line, file=sys.stderr, flush=True)


def on_task(device, task):
    spec = tf.DeviceSpec.from_string(device or "")
    return spec.job == task.role and spec.task == task.index


@contextlib.contextmanager
def lost_ps_stops_the_run():
    try:
        yield
    except LOST_TASK_ERRORS as err:
        raise TrainingError(
            f"lost a parameter server ({reason(err.message)}); every task of the cluster stops: "
            f"start them all again, the chief with --resume, to continue from the last "
            f"checkpoint") from err


def reason(message):
    """The line of a runtime error message that says what happened (not its banner)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()
             and not line.startswith("Graph execution error") and set(line.strip()) != {"="}]
    return lines[0] if lines else message.strip()


def closed_within(sess, seconds):
    """Close `sess`, giving up after `seconds`: with a ps gone, closing can wait forever."""
    closing = threading.Thread(target=sess.close, daemon=True)
    closing.start()
    closing.join(seconds)
