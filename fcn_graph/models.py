"""Every network fcn-graph builds, described by one frozen `ModelSpec`.

A spec names the network and every option that shapes its graph: the FCN
variant or other net, backbone, geometry, width, classes, dropout,
upsampling options, the input convention of its weights and the precision
it computes in. Training
towers, validation, evaluation, inference, export, the benchmark and the
test fixtures all call `build(spec, images)`, and a run directory records
exactly one spec (`spec.to_dict()`), so a network is rebuilt the way it
was trained without restating any of it.
"""
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Tuple

import tensorflow as tf

from fcn_graph import fcn, layers
from fcn_graph.convention import REFERENCE_CONVENTION, InputConvention
from fcn_graph.errors import SettingsError
from fcn_graph.nets import IMAGENET_CONVENTION, UNIT_RANGE_CONVENTION, simple_fcn, unet
from fcn_graph.precision import PRECISIONS
from fcn_graph.vgg import GEOMETRIES, REPEATS

# Builder options that ModelSpec carries as fields (the rest go in `options`).
FCN_FIELDS = ("backbone", "geometry", "width", "learn_upsampling", "dropout_rate")


@dataclass(frozen=True)
class Network:
    """How one model name is built."""
    builder: Callable        # builder(images, num_classes, is_training=..., **options)
    fields: Tuple[str, ...]  # ModelSpec fields the builder takes
    fixed: Mapping = field(default_factory=dict)   # options this name fixes
    # The input convention the net applies itself, given its options; None: its VGG
    # weights decide.
    convention: Optional[Callable[[Mapping], InputConvention]] = None
    has_dropout: bool = True  # takes a `random_stream` for its dropout masks
    # The total stride, given the options: the output grid steps by this many input pixels.
    stride: Callable[[Mapping], int] = lambda options: fcn.STRIDES["fc7"]


def imagenet(options):
    del options  # one normalisation, whatever the options
    return IMAGENET_CONVENTION


def unet_convention(options):
    return UNIT_RANGE_CONVENTION if options.get("style") == "tf_example" else IMAGENET_CONVENTION


def unet_stride(options):
    return 2 ** options.get("depth", unet.STYLES[options.get("style", "paper")].depth)


def simple_fcn_stride(options):
    del options  # four poolings whatever the options
    return simple_fcn.STRIDE


NETWORKS = {
    **{variant: Network(functools.partial(fcn.build_fcn, variant=variant), FCN_FIELDS)
       for variant in fcn.VARIANTS},
    "simple_fcn": Network(simple_fcn.build, ("width",), {"skips": False}, imagenet,
                          has_dropout=False, stride=simple_fcn_stride),
    "simple_fcn_skips": Network(simple_fcn.build, ("width",), {"skips": True}, imagenet,
                                has_dropout=False, stride=simple_fcn_stride),
    "unet": Network(unet.build, ("width", "dropout_rate"), {}, unet_convention,
                    stride=unet_stride),
}


def model_names():
    return sorted(NETWORKS)


def has_vgg_backbone(name):
    return NETWORKS[name].convention is None


@dataclass(frozen=True)
class ModelSpec:
    """What a network is; `build(spec, images)` makes its graph.

    `dropout_rate` and `learn_upsampling` left at None take the network's
    own setting (e.g. 0.5 after fc6 and fc7; the tutorial heads' learnable
    deconvolutions).
    """
    name: str
    num_classes: int
    backbone: str = "vgg16"
    geometry: str = "caffe"
    width: float = 1.0
    dropout_rate: Optional[float] = None
    learn_upsampling: Optional[bool] = None
    convention: InputConvention = REFERENCE_CONVENTION
    # Further builder options of the chosen network (e.g. a tutorial's upsampling).
    options: Mapping = field(default_factory=dict)
    precision: str = "float32"  # a PRECISIONS name

    def __post_init__(self):
        if self.name not in NETWORKS:
            raise SettingsError(f"unknown model {self.name!r}; choose one of {model_names()}")
        if isinstance(self.num_classes, bool) or int(self.num_classes) < 1:
            raise SettingsError(f"num_classes must be at least 1, got {self.num_classes!r}")
        if self.backbone not in REPEATS:
            raise SettingsError(f"unknown backbone {self.backbone!r}; choose one of "
                                f"{sorted(REPEATS)}")
        if self.geometry not in GEOMETRIES:
            raise SettingsError(f"unknown geometry {self.geometry!r}; choose one of "
                                f"{list(GEOMETRIES)}")
        if not self.width > 0:
            raise SettingsError(f"width must be positive, got {self.width!r}")
        if self.dropout_rate is not None and not 0 <= self.dropout_rate < 1:
            raise SettingsError(f"dropout_rate must lie in [0, 1), got {self.dropout_rate!r}")
        if self.precision not in PRECISIONS:
            raise SettingsError(f"unknown precision {self.precision!r}; choose one of "
                                f"{list(PRECISIONS)}")
        own = NETWORKS[self.name].convention
        if own is not None:
            # A net without a VGG backbone normalises its input its own way; the spec
            # records that way, whatever it was given.
            object.__setattr__(self, "convention", own(self.options))

    @property
    def stride(self):
        """The network's total stride: its output grid steps by this many input pixels."""
        return NETWORKS[self.name].stride(self.options)

    def for_inference(self, precision=None):
        """The same network without dropout (at inference the graph holds no conditional),
        computing in `precision` (default: the precision it was trained in)."""
        return dataclasses.replace(self, dropout_rate=0.0, precision=precision or self.precision)

    def builder_options(self):
        network = NETWORKS[self.name]
        options = {name: getattr(self, name) for name in network.fields
                   if getattr(self, name) is not None}
        return {**options, **network.fixed, **self.options}

    def to_dict(self):
        return {"name": self.name, "num_classes": int(self.num_classes),
                "backbone": self.backbone, "geometry": self.geometry, "width": float(self.width),
                "dropout_rate": self.dropout_rate, "learn_upsampling": self.learn_upsampling,
                "channel_order": self.convention.channel_order,
                "mean": [float(m) for m in self.convention.mean],
                "options": dict(self.options), "precision": self.precision}

    @classmethod
    def from_dict(cls, record):
        record = dict(record)
        convention = InputConvention(record.pop("channel_order", "BGR"),
                                     tuple(record.pop("mean", REFERENCE_CONVENTION.mean)))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(record) - known
        if unknown:
            raise SettingsError(f"model record has unknown fields {sorted(unknown)}")
        return cls(convention=convention, **record)


def build(spec, images, is_training=None, scope=None, random_stream=None, recompute_blocks=0):
    """Build `spec` on RGB 0..255 NHWC `images`; returns an object with `logits` and `end_points`.

    `is_training` is a boolean tensor (default: a placeholder that is False
    unless fed), which switches dropout and batch statistics on;
    `random_stream` (`layers.create_random_stream`) draws the dropout masks
    from a saved counter, so a resumed run continues them. Below float32
    `spec.precision`, every layer reads its float32 variables cast to the
    compute dtype and the logits are cast back to float32. `recompute_blocks`
    (training only, VGG backbones) recomputes the first blocks during
    backprop instead of keeping their activations (`vgg.recomputed`).
    """
    network = NETWORKS[spec.name]
    extra = {"weights": spec.convention} if network.convention is None else {}
    if recompute_blocks:
        if network.convention is not None:
            raise SettingsError(f"recomputing backbone blocks needs a VGG backbone, and "
                                f"{spec.name!r} has none")
        extra["recompute_blocks"] = recompute_blocks
    if network.has_dropout:
        extra["random_stream"] = random_stream
    compute = PRECISIONS[spec.precision]

    def make():
        return network.builder(images, int(spec.num_classes), is_training=is_training,
                               scope=scope, **extra, **spec.builder_options())

    if compute == tf.float32:
        return make()
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     custom_getter=reading_in(compute),
                                     auxiliary_name_scope=False):
        net = make()
    return dataclasses.replace(net, logits=tf.cast(net.logits, tf.float32, name="logits_float32"))


def reading_in(dtype):
    """A custom getter that hands out float32 variables cast to `dtype`.

    Batch-norm parameters and statistics (`layers.FLOAT32_VARIABLES`) and
    other dtypes (the int64 random stream) are handed out as they are.
    """
    def cast_getter(getter, name, *args, **kwargs):
        variable = getter(name, *args, **kwargs)
        if variable.dtype.base_dtype != tf.float32 \
                or name.rsplit("/", 1)[-1] in layers.FLOAT32_VARIABLES:
            return variable
        return tf.cast(variable, dtype)
    return cast_getter
