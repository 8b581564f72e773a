"""FCN-32s, FCN-16s, FCN-8s and FCN-8s at-once heads on a VGG backbone.

Each variant is a row of data: which pooling layers are fused in, the
crop that aligns each skip's score map with the upsampled coarse score in
the reference geometry, and the fixed scaling the at-once model applies to
pool4/pool3 features. The crops follow from where score cells sit in
input coordinates: score_fr cell j at 32j + 12.5, score_pool4 at
16j - 91.5, score_pool3 at 8j - 95.5 (with the 100-pixel input pad).
"""
import contextlib
from dataclasses import dataclass
from typing import Tuple

import tensorflow as tf

from fcn_graph import layers
from fcn_graph.vgg import build_vgg


@dataclass(frozen=True)
class Skip:
    source: str   # backbone layer whose features are scored and fused
    crop: int     # reference-geometry offset of its score map vs the 2x upsampled score
    scale: float  # fixed feature scaling before scoring (at-once training only)


@dataclass(frozen=True)
class Variant:
    skips: Tuple[Skip, ...]
    factor: int       # stride of the final upsampling back to the input
    final_crop: int   # reference-geometry offset of the final crop to the input


VARIANTS = {
    "fcn32s": Variant((), 32, 19),
    "fcn16s": Variant((Skip("pool4", 5, 1.0),), 16, 27),
    "fcn8s": Variant((Skip("pool4", 5, 1.0), Skip("pool3", 9, 1.0)), 8, 31),
    # Trained in one stage, so pool4 and pool3 features are scaled down by
    # fixed factors to enter at a magnitude comparable to the coarse score.
    "fcn8s-atonce": Variant((Skip("pool4", 5, 0.01), Skip("pool3", 9, 0.0001)), 8, 31),
}


@dataclass
class FCN:
    """A built network: `logits` (N, H, W, classes) aligned with `images`."""
    images: tf.Tensor
    logits: tf.Tensor
    end_points: dict
    is_training: tf.Tensor
    variant: str
    backbone: str
    geometry: str


class CaffeGeometry:
    """The reference: VALID deconvolutions whose overhang is cropped away at fixed offsets."""

    def upsample(self, score, name, factor, target, trainable):
        del target  # a VALID deconvolution has its natural size, (n-1)*f + k
        return layers.upsample(score, name, factor, padding="VALID", trainable=trainable)

    def align(self, score, like, offset, name):
        return layers.crop(score, offset, like, name=name)


class SameGeometry:
    """SAME everywhere: each deconvolution is shaped to the tensor it meets; nothing to crop."""

    def upsample(self, score, name, factor, target, trainable):
        dims = tf.shape(target)
        shape = tf.stack([dims[0], dims[1], dims[2], score.shape[-1]])
        up = layers.upsample(score, name, factor, output_shape=shape, padding="SAME",
                             trainable=trainable)
        up.set_shape(target.shape[:3].concatenate(score.shape[-1:]))
        return up

    def align(self, score, like, offset, name):
        del like, offset  # SAME maps already share the upsampled grid
        return tf.identity(score, name=name)


GEOMETRY = {"caffe": CaffeGeometry(), "same": SameGeometry()}


def upsample_names(variant):
    """Names of the 2x deconvs then the final one, as in the reference nets."""
    twos = ["upscore2"] + [f"upscore_{skip.source}" for skip in variant.skips[:-1]]
    final = f"upscore{variant.factor}" if variant.skips else "upscore"
    return twos, final


def build_fcn(images, num_classes, variant, backbone="vgg16", geometry="caffe",
              is_training=None, weights=None, learn_upsampling=False, scope=None,
              width=1.0, dropout_rate=0.5):
    """Build an FCN on RGB 0..255 NHWC `images` and return an `FCN`.

    `weights` (anything with `channel_order` and `mean`) sets the input
    convention of the backbone's weight source; None is the reference's.
    Score layers start at zero and deconvolutions at the bilinear kernel,
    fixed unless `learn_upsampling`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown FCN variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if geometry not in GEOMETRY:
        raise ValueError(f"unknown geometry {geometry!r}; choose one of {sorted(GEOMETRY)}")
    spec, geo = VARIANTS[variant], GEOMETRY[geometry]
    outer = tf.compat.v1.variable_scope(scope) if scope else contextlib.nullcontext()
    with outer:
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        if is_training is None:
            is_training = tf.compat.v1.placeholder_with_default(False, [], name="is_training")
        fc7, end_points = build_vgg(images, backbone, geometry, is_training, weights,
                                    width, dropout_rate)

        def score_layer(x, name):
            return layers.conv(x, name, num_classes, 1, relu=False, initializer="zeros")

        score = end_points["score_fr"] = score_layer(fc7, "score_fr")
        twos, final = upsample_names(spec)
        for skip, up_name in zip(spec.skips, twos):
            features = end_points[skip.source]
            if skip.scale != 1.0:
                features = end_points[f"scale_{skip.source}"] = tf.multiply(
                    features, skip.scale, name=f"scale_{skip.source}")
            up = end_points[up_name] = geo.upsample(score, up_name, 2, features, learn_upsampling)
            skip_score = end_points[f"score_{skip.source}"] = score_layer(
                features, f"score_{skip.source}")
            skip_score = end_points[f"score_{skip.source}c"] = geo.align(
                skip_score, up, skip.crop, f"score_{skip.source}c")
            score = end_points[f"fuse_{skip.source}"] = tf.add(up, skip_score,
                                                               name=f"fuse_{skip.source}")
        up = end_points[final] = geo.upsample(score, final, spec.factor, images, learn_upsampling)
        logits = end_points["score"] = geo.align(up, images, spec.final_crop, "score")
    return FCN(images=images, logits=logits, end_points=end_points, is_training=is_training,
               variant=variant, backbone=backbone, geometry=geometry)
