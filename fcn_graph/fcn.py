"""FCN heads on a VGG backbone, each variant a row of data.

A head scores fc7 (`score_fr`) and brings the score back to the input in
one of three ways, the variant's `fusion`:

- "scores", the paper's FCN-16s/8s: coarse to fine in class space. Each
  skip layer is scored by a 1x1 convolution and added to the 2x upsampled
  score of the level below; one last deconvolution reaches the input.
- "features": the same ladder in feature space. The 2x deconvolutions map
  the score to the skip layer's channels and the pooled features are added
  unscored; the last deconvolution maps them back to classes (the ADE20K
  VGG19 FCN).
- "direct": every scored layer is upsampled straight to the input by its
  own deconvolution and the maps are summed with fixed weights (the KITTI
  road FCN-8s).

In the reference geometry each map is cropped to align with the one it
meets. The crops follow from where cells sit in input coordinates:
score_fr cell j at 32j + 12.5, pool4 (and score_pool4) at 16j - 91.5,
pool3 at 8j - 95.5 (with the 100-pixel input pad), and a VALID
deconvolution by f with kernel 2f putting cell j's centre at output
pixel fj + f - 0.5.
"""
import contextlib
from dataclasses import dataclass
from typing import Tuple

import tensorflow as tf

from fcn_graph import layers
from fcn_graph.errors import SettingsError
from fcn_graph.upsampling import kernel_size
from fcn_graph.vgg import build_vgg

# Stride to the input of the backbone layers a head reads.
STRIDES = {"pool3": 8, "pool4": 16, "fc7": 32}


@dataclass(frozen=True)
class Skip:
    source: str   # backbone layer fused in
    # Reference-geometry crop that aligns this branch: its map against the 2x
    # upsampled map it is added to, or (direct) its upsampled score against the input.
    crop: int
    scale: float = 1.0   # fixed feature scaling before scoring (at-once training only)
    weight: float = 1.0  # its factor in a direct sum


@dataclass(frozen=True)
class Variant:
    skips: Tuple[Skip, ...]
    factor: int       # stride of the final upsampling (direct: the coarse score's)
    final_crop: int   # reference-geometry offset of the final crop to the input
    fusion: str = "scores"
    coarse_weight: float = 1.0       # the coarse score's factor in a direct sum
    score_init: str = "zeros"        # `layers.INITIALIZERS` name of every score layer
    upsample_init: str = "bilinear"  # ... and of every deconvolution
    learn_upsampling: bool = False   # deconvolutions trainable unless the builder says otherwise
    upsample_biases: bool = False


VARIANTS = {
    "fcn32s": Variant((), 32, 19),
    "fcn16s": Variant((Skip("pool4", 5),), 16, 27),
    "fcn8s": Variant((Skip("pool4", 5), Skip("pool3", 9)), 8, 31),
    # Trained in one stage, so pool4 and pool3 features are scaled down by
    # fixed factors to enter at a magnitude comparable to the coarse score.
    "fcn8s-atonce": Variant((Skip("pool4", 5, 0.01), Skip("pool3", 9, 0.0001)), 8, 31),
    # Each score reaches the input through its own learnable bilinear
    # deconvolution; weighted 4, 2, 1 from coarse to fine, the finer and
    # noisier scores enter smaller, as the at-once model's scaling has them.
    "fcn8s-direct": Variant((Skip("pool4", 107, weight=2.0), Skip("pool3", 103, weight=1.0)),
                            32, 19, fusion="direct", coarse_weight=4.0,
                            score_init="truncated_normal_0.1", learn_upsampling=True),
    "fcn8s-features": Variant((Skip("pool4", 5), Skip("pool3", 9)), 8, 31, fusion="features",
                              score_init="truncated_normal_0.02",
                              upsample_init="truncated_normal_0.02", learn_upsampling=True,
                              upsample_biases=True),
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

    def deconv_like(self, target):
        del target  # a VALID deconvolution has its natural size, (n-1)*f + k
        return None

    def align(self, x, like, offset, name):
        return layers.crop(x, offset, like, name=name)


class SameGeometry:
    """SAME everywhere: each deconvolution is shaped to the tensor it meets; nothing to crop."""

    def deconv_like(self, target):
        return target

    def align(self, x, like, offset, name):
        del like, offset  # SAME maps already share the grid they meet
        return tf.identity(x, name=name)


GEOMETRY = {"caffe": CaffeGeometry(), "same": SameGeometry()}


def upsample_names(variant):
    """Names of the 2x deconvs then the final one, as in the reference nets (ladder fusions)."""
    twos = ["upscore2"] + [f"upscore_{skip.source}" for skip in variant.skips[:-1]]
    final = f"upscore{variant.factor}" if variant.skips else "upscore"
    return twos, final


@dataclass
class Head:
    """The layers a head is made of, with the variant's initialisers, recorded as end points."""
    spec: Variant
    geometry: object
    num_classes: int
    end_points: dict
    score_init: str
    learn_upsampling: bool

    def score(self, x, name):
        self.end_points[name] = layers.conv(x, name, self.num_classes, 1, relu=False,
                                            initializer=self.score_init)
        return self.end_points[name]

    def skip_features(self, skip):
        features = self.end_points[skip.source]
        if skip.scale == 1.0:
            return features
        name = f"scale_{skip.source}"
        self.end_points[name] = tf.multiply(features, skip.scale, name=name)
        return self.end_points[name]

    def upsample(self, x, name, factor, target, channels):
        """Deconvolve by `factor` to `channels`; onto `target`'s grid in the SAME geometry."""
        self.end_points[name] = layers.conv_transpose(
            x, name, channels, factor, kernel_size(factor),
            like=self.geometry.deconv_like(target), initializer=self.spec.upsample_init,
            biases=self.spec.upsample_biases, trainable=self.learn_upsampling)
        return self.end_points[name]

    def align(self, x, like, offset, name):
        self.end_points[name] = self.geometry.align(x, like, offset, name)
        return self.end_points[name]


def fuse_coarse_to_fine(head, score, images):
    """The "scores" and "features" ladders: 2x up, add the skip, repeat; then up to the input."""
    spec, end_points = head.spec, head.end_points
    twos, final = upsample_names(spec)
    for skip, up_name in zip(spec.skips, twos):
        features = head.skip_features(skip)
        if spec.fusion == "scores":
            up = head.upsample(score, up_name, 2, features, head.num_classes)
            branch = head.score(features, f"score_{skip.source}")
            branch = head.align(branch, up, skip.crop, f"score_{skip.source}c")
        else:
            up = head.upsample(score, up_name, 2, features, features.shape[-1])
            branch = head.align(features, up, skip.crop, f"{skip.source}c")
        name = f"fuse_{skip.source}"
        score = end_points[name] = tf.add(up, branch, name=name)
    up = head.upsample(score, final, spec.factor, images, head.num_classes)
    return head.align(up, images, spec.final_crop, "score")


def fuse_direct(head, score, images):
    """Each score deconvolved straight to the input (`upscore<stride>`), then a weighted sum."""
    spec = head.spec
    branches = [(score, spec.factor, spec.final_crop, spec.coarse_weight)]
    for skip in spec.skips:
        skip_score = head.score(head.skip_features(skip), f"score_{skip.source}")
        branches.append((skip_score, STRIDES[skip.source], skip.crop, skip.weight))
    terms = []
    for branch, factor, crop, weight in branches:
        name = f"upscore{factor}"
        up = head.upsample(branch, name, factor, images, head.num_classes)
        up = head.align(up, images, crop, f"{name}c")
        terms.append(tf.multiply(up, weight, name=f"{name}_weighted"))
    head.end_points["score"] = tf.add_n(terms, name="score")
    return head.end_points["score"]


FUSE = {"scores": fuse_coarse_to_fine, "features": fuse_coarse_to_fine, "direct": fuse_direct}


def build_fcn(images, num_classes, variant, backbone="vgg16", geometry="caffe",
              is_training=None, weights=None, learn_upsampling=None, scope=None,
              width=1.0, dropout_rate=0.5, score_init=None, random_stream=None,
              recompute_blocks=0):
    """Build an FCN on RGB 0..255 NHWC `images` and return an `FCN`.

    `weights` (anything with `channel_order` and `mean`) sets the input
    convention of the backbone's weight source; None is the reference's.
    `score_init` and `learn_upsampling` default to the variant's: the
    reference's score layers start at zero and its deconvolutions at the
    bilinear kernel, fixed. `score_init='glorot_uniform'` starts the score
    layers as TF-slim starts a new fc8. `random_stream` (see
    `layers.dropout`) makes the dropout masks resumable. `recompute_blocks`
    (training only) is `build_vgg`'s.
    """
    if variant not in VARIANTS:
        raise SettingsError(f"unknown FCN variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if geometry not in GEOMETRY:
        raise SettingsError(f"unknown geometry {geometry!r}; choose one of {sorted(GEOMETRY)}")
    spec = VARIANTS[variant]
    score_init = score_init or spec.score_init
    layers.initializer_of(score_init, "score_init")  # refuse a bad name before building
    outer = tf.compat.v1.variable_scope(scope) if scope else contextlib.nullcontext()
    with outer:
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        if is_training is None:
            is_training = tf.compat.v1.placeholder_with_default(False, [], name="is_training")
        fc7, end_points = build_vgg(images, backbone, geometry, is_training, weights,
                                    width, dropout_rate, random_stream, recompute_blocks)
        head = Head(spec, GEOMETRY[geometry], num_classes, end_points, score_init,
                    spec.learn_upsampling if learn_upsampling is None else learn_upsampling)
        score = head.score(fc7, "score_fr")
        logits = FUSE[spec.fusion](head, score, images)
    return FCN(images=images, logits=logits, end_points=end_points, is_training=is_training,
               variant=variant, backbone=backbone, geometry=geometry)
