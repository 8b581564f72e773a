"""fcn-graph: Fully Convolutional Networks as explicit TensorFlow 1-style graphs."""
from fcn_graph.convention import REFERENCE_BGR_MEAN
from fcn_graph.fcn import FCN, VARIANTS, build_fcn
from fcn_graph.losses import pixelwise_softmax_loss, weight_decay_loss
from fcn_graph.upsampling import bilinear_kernel, upsample_bilinear
from fcn_graph.vgg import build_vgg

__all__ = [
    "FCN", "REFERENCE_BGR_MEAN", "VARIANTS", "bilinear_kernel", "build_fcn", "build_vgg",
    "pixelwise_softmax_loss", "upsample_bilinear", "weight_decay_loss",
]
