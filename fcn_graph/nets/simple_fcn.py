"""The tutorials' small street-scene FCN, with an optional skip decoder.

conv3x3(32) -> 4 x (pool2x2 -> conv3x3(64) -> conv3x3(64)) -> conv1x1(C),
then a 16x bilinear upsampling back to the input. With `skips`, the coarse
features instead climb back one octave at a time: each step upsamples 2x
onto the encoder features of the same resolution, concatenates them and
mixes them by a 3x3 convolution, so boundaries come from the fine levels.

Every upsampling is either a transposed convolution (`"deconv"`: the fixed
bilinear kernel at the end, learnable bilinear-initialised 2x steps in the
decoder) or TF1's `resize_bilinear` (`"resize"`), which the Cityscapes
tutorial uses and which samples 7.5 output pixels away from the
deconvolution at 16x (see `layers.resize_bilinear`).
"""
import tensorflow as tf

from fcn_graph import layers
from fcn_graph.errors import SettingsError
from fcn_graph.nets import Net, normalize, open_scope, pad_to_multiple, training_flag
from fcn_graph.upsampling import upsample_bilinear
from fcn_graph.vgg import scaled

STEM_CHANNELS = 32
BLOCK_CHANNELS = 64
BLOCKS = 4
STRIDE = 2 ** BLOCKS
# The fixed upsampling to the input, by factor.
FINAL_UPSAMPLING = {"deconv": upsample_bilinear, "resize": layers.resize_bilinear}


def build(images, num_classes, is_training=None, skips=False, width=1.0, scope=None,
          upsampling="deconv", initializer="he", skip_stem=True):
    """Build on RGB 0..255 NHWC `images`; any height and width (padded to a multiple of 16).

    `upsampling` is "deconv" or "resize" (above); `initializer` names the
    `layers.INITIALIZERS` entry of every convolution ("glorot_uniform" is
    tf.layers' default). The skip decoder fuses every level down to conv1 at
    full resolution; with `skip_stem=False` it stops at half resolution
    (block 1), scores there and upsamples 2x, as the tutorial's does.
    """
    if upsampling not in FINAL_UPSAMPLING:
        raise SettingsError(f"upsampling={upsampling!r} is not an upsampling; "
                            f"choose one of {sorted(FINAL_UPSAMPLING)}")
    layers.initializer_of(initializer)  # refuse a bad name before building
    with open_scope(scope):
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        is_training = training_flag(is_training)
        end_points = {}
        net = pad_to_multiple(normalize(images), STRIDE)
        net = end_points["conv1"] = layers.conv(net, "conv1", scaled(STEM_CHANNELS, width), 3,
                                                initializer=initializer)
        levels = [net]
        for block in range(2, BLOCKS + 2):
            net = end_points[f"pool{block - 1}"] = layers.max_pool(net, f"pool{block - 1}")
            for i in (1, 2):
                name = f"conv{block}_{i}"
                net = end_points[name] = layers.conv(net, name, scaled(BLOCK_CHANNELS, width), 3,
                                                     initializer=initializer)
            levels.append(net)
        finest = BLOCKS
        if skips:
            finest = 0 if skip_stem else 1
            net = skip_decoder(levels, finest, upsampling, initializer, end_points)
        score = end_points["score"] = layers.conv(net, "score", num_classes, 1, relu=False,
                                                  initializer=initializer)
        if finest:
            score = end_points["upscore"] = FINAL_UPSAMPLING[upsampling](score, 2 ** finest,
                                                                         name="upscore")
        logits = end_points["logits"] = layers.crop(score, 0, images, name="logits")
    return Net(images=images, logits=logits, end_points=end_points, is_training=is_training)


def skip_decoder(levels, finest, upsampling, initializer, end_points):
    """Climb from the coarsest level to level `finest`, fusing each encoder level on the way.

    Each fusion convolution has as many channels as the level it fuses.
    """
    net = levels[-1]
    for level in range(len(levels) - 2, finest - 1, -1):
        skip = levels[level]
        name = f"up{level}"
        if upsampling == "deconv":
            up = layers.upsample(net, name, 2, like=skip, trainable=True)
        else:
            up = layers.resize_bilinear(net, 2, name=name)
        end_points[name] = up
        merged = tf.concat([up, skip], axis=-1, name=f"concat{level}")
        net = end_points[f"fuse{level}"] = layers.conv(merged, f"fuse{level}", skip.shape[-1], 3,
                                                       initializer=initializer)
    return net
