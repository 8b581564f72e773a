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
"""
from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.fcn import FCN, VARIANTS, build_fcn
from fcn_graph.inference import predict
from fcn_graph.losses import pixelwise_softmax_loss, weight_decay_loss
from fcn_graph.models import build_model
from fcn_graph.training import TrainConfig, train
from fcn_graph.upsampling import bilinear_kernel, upsample_bilinear
from fcn_graph.vgg import build_vgg
from fcn_graph.weights import (RestoreReport, StagedInit, Weights, WeightsError, load_weights,
                               restore_backbone)

__all__ = [
    "FCN", "REFERENCE_BGR_MEAN", "RestoreReport", "StagedInit", "TrainConfig", "VARIANTS",
    "Weights", "WeightsError", "bilinear_kernel", "build_fcn", "build_model", "build_vgg",
    "load_weights", "pixelwise_softmax_loss", "predict", "restore_backbone", "train",
    "upsample_bilinear", "weight_decay_loss",
]
