"""Every network the trainer, evaluator and exporter can build, by name.

A run directory's `config.json` names a model and its options; the same
call rebuilds it for training, evaluation, inference and export. Builders
take RGB 0..255 NHWC images and return an object with `logits` (N, H, W,
num_classes) and `end_points`.
"""
import importlib

from fcn_graph.fcn import VARIANTS, build_fcn

# Networks beside the FCN heads live in fcn_graph.nets, one module each,
# exposing `build(images, num_classes, is_training=None, **options)`.
OTHER_NETS = {
    "simple_fcn": ("fcn_graph.nets.simple_fcn", {"skips": False}),
    "simple_fcn_skips": ("fcn_graph.nets.simple_fcn", {"skips": True}),
    "unet": ("fcn_graph.nets.unet", {}),
}

FCN_OPTIONS = ("backbone", "geometry", "learn_upsampling", "width", "dropout_rate", "scope")


def model_names():
    return sorted(VARIANTS) + sorted(OTHER_NETS)


def build_model(name, images, num_classes, is_training=None, weights=None, **options):
    """Build network `name`; FCN variants take `weights` (input convention) and FCN options."""
    if name in VARIANTS:
        unknown = set(options) - set(FCN_OPTIONS)
        if unknown:
            raise ValueError(f"{name} does not take option(s) {sorted(unknown)}")
        return build_fcn(images, num_classes, name, is_training=is_training, weights=weights,
                         **options)
    if name in OTHER_NETS:
        if weights is not None:
            raise ValueError(f"{name} has no VGG backbone to load pretrained weights into; "
                             f"pretrained weights apply to {sorted(VARIANTS)}")
        module_name, fixed = OTHER_NETS[name]
        module = importlib.import_module(module_name)
        return module.build(images, num_classes, is_training=is_training, **fixed, **options)
    raise ValueError(f"unknown model {name!r}; choose one of {model_names()}")
