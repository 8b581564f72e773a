"""Synchronous updates: each step applies exactly one gradient of every worker.

Built from TensorFlow's own ops on the ps tasks:

- one ConditionalAccumulator per variable, colocated with it, receives each
  worker's gradient tagged with the global step it was computed at; a
  gradient tagged with an older step than the accumulator's is dropped;
- after pushing its gradients, every worker but the chief posts a marker
  (step, worker) on a queue; the chief, once its own gradients are in,
  takes markers until every worker has posted one for the current step,
  then takes the gradients of every accumulator, combines them, applies
  the update (which advances the global step) and puts the new step in
  each worker's own token queue;
- a worker waits for its token before it starts the next step.

`tf.compat.v1.train.SyncReplicasOptimizer` does most of this but counts
gradients, not workers: it applies the first N to arrive whichever worker
sent them, and its tokens are shared, so a fast worker can take a slow
one's token and fill a step on its own (with its default initial tokens it
does so on the very first step). One token queue per worker, and a marker
posted only once all of a worker's gradients are in, make every step hold
each worker's gradient once.
"""
import tensorflow as tf

from fcn_graph.distributed.placement import BOOKKEEPING_SCOPE, first_ps

v1 = tf.compat.v1


class SynchronousAggregation:
    """The shared accumulators and queues of a cluster of `num_workers` workers, as seen by
    worker `worker_index` (the chief is 0)."""

    def __init__(self, variables, num_workers, worker_index):
        self.variables = list(variables)
        self.num_workers = num_workers
        self.worker_index = worker_index
        self.accumulators = []
        for var in self.variables:
            with v1.device(var.device):
                self.accumulators.append(v1.ConditionalAccumulator(
                    var.dtype.base_dtype, shape=var.shape,
                    shared_name=f"{var.op.name}/gradient_accumulator",
                    name=f"{var.op.name}/gradient_accumulator"))
        with first_ps(), tf.name_scope(BOOKKEEPING_SCOPE):
            self.markers = v1.FIFOQueue(-1, [tf.int64, tf.int32], shapes=[[], []],
                                        shared_name=f"{BOOKKEEPING_SCOPE}/pushed", name="pushed")
            # The chief (worker 0) releases the others and needs no token of its own.
            self.tokens = {index: v1.FIFOQueue(-1, [tf.int64], shapes=[[]],
                                               shared_name=f"{BOOKKEEPING_SCOPE}/released_{index}",
                                               name=f"released_{index}")
                           for index in range(1, num_workers)}

    def push(self, gradients, global_step):
        """Op: this worker's gradients (one per variable, in order) into the accumulators."""
        # Read in the same run as the weights the gradients come from; no update
        # can land before this worker's marker, posted after this run.
        step = global_step.read_value()
        pushes = []
        for accumulator, var, grad in zip(self.accumulators, self.variables, gradients):
            with v1.device(var.device):
                pushes.append(accumulator.apply_grad(grad, local_step=step))
        return tf.group(*pushes, name="push_gradients")

    def post_marker(self, global_step):
        """Op: the marker saying this worker's gradients of the current step are all in."""
        with first_ps():
            return self.markers.enqueue([global_step.read_value(),
                                         tf.constant(self.worker_index, tf.int32)])

    def next_marker(self):
        with first_ps():
            return self.markers.dequeue()

    def marker_count(self):
        with first_ps():
            return self.markers.size()

    def gathered(self, scale):
        """(gradient, variable) pairs: the mean of every worker's gradient, times `scale`."""
        pairs = []
        for accumulator, var in zip(self.accumulators, self.variables):
            with v1.device(var.device):
                pairs.append((accumulator.take_grad(self.num_workers) * scale, var))
        return pairs

    def release(self, new_step):
        """Op: one token holding `new_step` for every worker but the chief."""
        with first_ps():
            return tf.group(*[queue.enqueue([new_step]) for queue in self.tokens.values()],
                            name="release_workers")

    def own_token(self):
        with first_ps():
            return self.tokens[self.worker_index].dequeue()

    def own_token_count(self):
        with first_ps():
            return self.tokens[self.worker_index].size()

    def clearing(self):
        """(accumulator counts, one op per accumulator taking whatever it holds): for the chief
        to empty accumulators that a previous chief left holding gradients."""
        counts, clears = [], []
        for accumulator, var in zip(self.accumulators, self.variables):
            with v1.device(var.device):
                counts.append(accumulator.num_accumulated())
                clears.append(tf.group(accumulator.take_grad(1)))
        return counts, clears

    def restart_at(self, global_step):
        """Op: the accumulators take gradients of the global step from now on."""
        ops = []
        for accumulator, var in zip(self.accumulators, self.variables):
            with v1.device(var.device):
                ops.append(accumulator.set_global_step(global_step.read_value()))
        return tf.group(*ops, name="accumulators_at_global_step")
