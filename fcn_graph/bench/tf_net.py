"""The TensorFlow side: the project's FCN as inference and training graphs sharing weights.

The forward pass is the inference network (`spec.for_inference()`, no
dropout branch), as `infer`, `eval` and `export` build it; the training
step is the training network (dropout on) under a momentum-SGD update.
The weights are loaded as a checkpoint restore loads them: assigned once,
without first running the random initializers.

The XLA step computes loss and gradients in a `tf.function(jit_compile=True)`
called from the session graph. Inside it the network is built again over
the variables' current values (passed in as tensors) through a custom
getter, so the compiled function holds no state; the gradients it returns
are applied by the same optimizer as the plain step.
"""
import tensorflow as tf

from fcn_graph.bench.flops import forward_flops
from fcn_graph.bench.profile import op_times
from fcn_graph.losses import pixelwise_softmax_loss
from fcn_graph.models import ModelSpec, build
from fcn_graph.vgg import RECOMPUTED_BLOCKS

v1 = tf.compat.v1

LEARNING_RATE = 1e-10  # the reference FCN rate for a summed loss; values are irrelevant to speed
MOMENTUM = 0.99


def bench_spec(model, num_classes, width, backbone, precision="float32"):
    return ModelSpec(name=model, num_classes=num_classes, backbone=backbone, geometry="caffe",
                     width=width, precision=precision)


def probe(spec, batch, size):
    """({variable name: initial array}, forward FLOPs) of the inference network at this size.

    The initial values include the bilinear deconvolutions, which stay fixed.
    """
    graph = tf.Graph()
    with graph.as_default():
        build(spec.for_inference(), v1.placeholder(tf.float32, [batch, size, size, 3]))
        flops = forward_flops(graph.get_operations())
        variables = v1.global_variables()
        init = v1.global_variables_initializer()
    with v1.Session(graph=graph) as session:
        session.run(init)
        return dict(zip([v.op.name for v in variables], session.run(variables))), flops


class TFBench:
    """The inference network, the plain training step and (optionally) the XLA step.

    With `recompute` the training network recomputes its first blocks during
    backprop (`train --recompute`); the XLA step is then not built.
    """

    def __init__(self, spec, batch, size, xla_step, recompute=False):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.float32, [batch, size, size, 3], name="images")
            self.labels = v1.placeholder(tf.int32, [batch, size, size], name="labels")
            self.logits = build(spec.for_inference(), self.images,
                                is_training=tf.constant(False)).logits
            self.variables = v1.global_variables()
            with v1.variable_scope(v1.get_variable_scope(), reuse=True), \
                    tf.name_scope("train"):
                train_logits = build(
                    spec, self.images, is_training=tf.constant(True),
                    recompute_blocks=RECOMPUTED_BLOCKS if recompute else 0).logits
            trainable = v1.trainable_variables()
            optimizer = v1.train.MomentumOptimizer(LEARNING_RATE, MOMENTUM)
            loss = pixelwise_softmax_loss(train_logits, self.labels)
            self.steps = {"plain": optimizer.minimize(loss, var_list=trainable)}
            if xla_step and not recompute:
                grads = compiled_gradients(spec, self.variables, trainable, self.images,
                                           self.labels)
                self.steps["xla"] = optimizer.apply_gradients(zip(grads, trainable))
            self.feeds = {v: v1.placeholder(v.dtype.base_dtype, v.shape) for v in self.variables}
            self.assign = tf.group(*[v.assign(p) for v, p in self.feeds.items()])
            # Optimizer slots start at zero; the network's variables come from `load`.
            self.init_slots = v1.variables_initializer(
                [v for v in v1.global_variables() if v not in self.variables])
        self.graph.finalize()
        self.session = v1.Session(graph=self.graph)
        self.slots_ready = False

    def load(self, values):
        """Load {variable name: array} into the graph (fed, never baked into the GraphDef)."""
        self.session.run(self.assign, {p: values[v.op.name] for v, p in self.feeds.items()})

    def forward(self, images):
        return self.session.run(self.logits, {self.images: images})

    def step_call(self, images, labels, kind):
        """A training step of `kind` (plain or xla). The first one creates the
        optimizer's (zero) slots, as PyTorch's first step creates its momentum buffers:
        neither is the forward pass's memory."""
        step = self.steps[kind]
        feed = {self.images: images, self.labels: labels}

        def run_step():
            self.ensure_slots()
            self.session.run(step, feed)
        return run_step

    def ensure_slots(self):
        if not self.slots_ready:
            self.session.run(self.init_slots)
            self.slots_ready = True

    def profiles(self, images, labels):
        """{phase: (wall seconds, per-op rows)} of a traced forward pass and training step."""
        self.ensure_slots()
        return {"forward": op_times(self.session, self.logits, {self.images: images}),
                "train": op_times(self.session, self.steps["plain"],
                                  {self.images: images, self.labels: labels})}

    def close(self):
        self.session.close()


def compiled_gradients(spec, variables, trainable, images, labels):
    """Gradient tensors of the summed loss for `trainable`, computed by one XLA cluster."""
    names = [v.op.name for v in variables]
    wanted = [names.index(v.op.name) for v in trainable]

    @tf.function(jit_compile=True)
    def loss_gradients(images, labels, *values):
        by_name = dict(zip(names, values))

        def from_values(getter, name, *args, **kwargs):
            del getter, args, kwargs  # every variable already exists outside
            return by_name[name]

        with v1.variable_scope(v1.get_variable_scope(), custom_getter=from_values):
            net = build(spec, images, is_training=tf.constant(True))
        loss = pixelwise_softmax_loss(net.logits, labels)
        return tf.gradients(loss, [values[i] for i in wanted])

    return loss_gradients(images, labels, *[v.value() for v in variables])
