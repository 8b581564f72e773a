"""fcn-graph: Fully Convolutional Networks as explicit TensorFlow 1-style graphs.

    import tensorflow as tf
    import fcn_graph

    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3])  # RGB 0..255
        w = fcn_graph.load_weights("vgg16.npy")
        net = fcn_graph.build_fcn(images, 21, "fcn8s", weights=w)
        loss = fcn_graph.pixelwise_softmax_loss(net.logits, labels)
        ...
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            fcn_graph.restore_backbone(sess, w)

The names below load their module on first use, so importing a part of
the package (the command line, `fcn_graph.testing`) costs only that part.
"""
import importlib

# Public name -> the module that defines it.
EXPORTS = {
    "REFERENCE_BGR_MEAN": "fcn_graph.convention",
    "FCN": "fcn_graph.fcn", "VARIANTS": "fcn_graph.fcn", "build_fcn": "fcn_graph.fcn",
    "FcnGraphError": "fcn_graph.errors", "WeightsError": "fcn_graph.errors",
    "ModelSpec": "fcn_graph.models", "build": "fcn_graph.models",
    "predict": "fcn_graph.inference",
    "pixelwise_softmax_loss": "fcn_graph.losses", "weight_decay_loss": "fcn_graph.losses",
    "RunRecord": "fcn_graph.rundir", "load_record": "fcn_graph.rundir",
    "TrainConfig": "fcn_graph.training", "train": "fcn_graph.training",
    "StagedInit": "fcn_graph.training.staged",
    "bilinear_kernel": "fcn_graph.upsampling", "upsample_bilinear": "fcn_graph.upsampling",
    "build_vgg": "fcn_graph.vgg",
    "RestoreReport": "fcn_graph.weights", "Weights": "fcn_graph.weights",
    "load_weights": "fcn_graph.weights", "restore_backbone": "fcn_graph.weights",
}
__all__ = sorted(EXPORTS)


def __getattr__(name):
    if name not in EXPORTS:
        raise AttributeError(f"module 'fcn_graph' has no attribute {name!r}")
    value = getattr(importlib.import_module(EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(EXPORTS))
