"""The TensorFlow side: the project's FCN graph, a plain and an XLA-compiled SGD step.

The XLA step computes loss and gradients in a `tf.function(jit_compile=True)`
called from the session graph. Inside it the network is built again over
the variables' current values (passed in as tensors) through a custom
getter, so the compiled function holds no state; the gradients it returns
are applied by the same optimizer as the plain step.
"""
import numpy as np
import tensorflow as tf

from fcn_graph.bench.flops import forward_flops
from fcn_graph.losses import pixelwise_softmax_loss
from fcn_graph.models import ModelSpec, build

v1 = tf.compat.v1

LEARNING_RATE = 1e-10  # the reference FCN rate for a summed loss; values are irrelevant to speed
MOMENTUM = 0.99


class TFBench:
    """One graph holding the forward pass, the plain training step and (optionally) the XLA step."""

    def __init__(self, model, num_classes, batch, size, width, backbone, xla_step):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.float32, [batch, size, size, 3], name="images")
            self.labels = v1.placeholder(tf.int32, [batch, size, size], name="labels")
            self.is_training = v1.placeholder_with_default(False, [], name="is_training")
            spec = ModelSpec(name=model, num_classes=num_classes, backbone=backbone,
                             geometry="caffe", width=width)
            net = build(spec, self.images, is_training=self.is_training)
            self.logits = net.logits
            self.flops = forward_flops(self.graph.get_operations())
            self.variables = v1.global_variables()
            trainable = v1.trainable_variables()
            optimizer = v1.train.MomentumOptimizer(LEARNING_RATE, MOMENTUM)
            loss = pixelwise_softmax_loss(self.logits, self.labels)
            self.plain_step = optimizer.minimize(loss, var_list=trainable)
            self.xla_step = None
            if xla_step:
                grads = compiled_gradients(spec, self.variables, trainable, self.images,
                                           self.labels)
                self.xla_step = optimizer.apply_gradients(zip(grads, trainable))
            self.init = v1.global_variables_initializer()
            self.feeds = {v: v1.placeholder(v.dtype.base_dtype, v.shape) for v in self.variables}
            self.assign = tf.group(*[v.assign(p) for v, p in self.feeds.items()])
        self.graph.finalize()
        self.session = v1.Session(graph=self.graph)
        self.session.run(self.init)

    def set_weights(self, values):
        """Load {variable name: array} into the graph (fed, never baked into the GraphDef)."""
        self.session.run(self.assign, {p: values[v.op.name] for v, p in self.feeds.items()})

    def weights(self):
        return dict(zip([v.op.name for v in self.variables], self.session.run(self.variables)))

    def forward(self, images):
        return self.session.run(self.logits, {self.images: images})

    def step_call(self, images, labels, xla):
        step = self.xla_step if xla else self.plain_step
        feed = {self.images: images, self.labels: labels, self.is_training: True}
        return lambda: self.session.run(step, feed)

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


def random_batch(batch, size, num_classes, seed=0):
    """Images (RGB 0..255) and labels with a tenth of the pixels void."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    labels = rng.integers(0, num_classes, (batch, size, size)).astype(np.int32)
    labels[rng.random(labels.shape) < 0.1] = 255
    return images, labels


def randomised(values, seed=0):
    """He-scaled random values for every variable but the fixed bilinear deconvolutions.

    Zero-initialised score layers would make the logits identical in any
    framework; random ones make the comparison of the two renderings mean something.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, value in values.items():
        if "upscore" in name:
            out[name] = value
            continue
        fan_in = int(np.prod(value.shape[:-1])) if value.ndim > 1 else 100
        out[name] = rng.normal(0, np.sqrt(2.0 / fan_in), value.shape).astype(value.dtype)
    return out
