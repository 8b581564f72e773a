"""Load pretrained values into a built graph without adding a single op.

Each variable's initializer already assigns "some value" to it; feeding
that value's tensor with the pretrained array turns the initializer into
a restore (what `Variable.load` does). The GraphDef therefore never holds
the weights, and restoring works on a finalized graph.
"""
import logging

import numpy as np
import tensorflow as tf

from fcn_graph import architecture
from fcn_graph.convention import CHANNEL_ORDER_NAME, MEAN_NAME
from fcn_graph.weights.model import HEAD_LAYER, WeightsError

log = logging.getLogger(__name__)

MEAN_TOLERANCE = 1e-3


class RestoreReport(list):
    """The restored layer names, with what was not restored and why.

    `missing`: backbone layers the file lacks (they keep their initialisers);
    `unused`: file layers this graph has no place for (fc8 of another class
    count, head layers of another variant, or any head without include_head).
    """

    def __init__(self, restored, missing, unused):
        super().__init__(restored)
        self.missing = list(missing)
        self.unused = list(unused)


def graph_constant(graph, name, scope_prefix):
    try:
        op = graph.get_operation_by_name(scope_prefix + name)
    except KeyError:
        raise WeightsError(f"the graph has no {scope_prefix}{name} constant; build the network "
                           f"with build_fcn/build_vgg (and the same scope) before restoring") \
            from None
    return tf.make_ndarray(op.get_attr("value"))


def check_convention(graph, weights, prefix):
    order = graph_constant(graph, CHANNEL_ORDER_NAME, prefix).item()
    order = order.decode() if isinstance(order, bytes) else str(order)
    mean = graph_constant(graph, MEAN_NAME, prefix)
    if order != weights.channel_order or not np.allclose(mean, weights.mean, atol=MEAN_TOLERANCE):
        raise WeightsError(
            f"{weights.path}: weights expect {weights.channel_order} input minus mean "
            f"{tuple(round(m, 3) for m in weights.mean)}, but the graph was built for {order} "
            f"minus {tuple(round(float(m), 3) for m in mean)}; build it with "
            f"build_fcn(..., weights=<these weights>)")


def graph_arch(variables, prefix):
    for arch in ("vgg19", "vgg16"):
        if f"{prefix}{architecture.conv_layer_names(arch)[-1]}/weights" in variables:
            return arch
    raise WeightsError(f"the graph has no {prefix}conv5_3/weights variable; no VGG backbone "
                       f"under scope {prefix or '(none)'!r}")


def checked_value(weights, layer, variable, value, part):
    if value is None:
        raise WeightsError(f"{weights.path}: layer {layer} has no {part} but the graph's "
                           f"{variable.op.name} needs them")
    expected = tuple(variable.shape.as_list())
    if value.shape != expected:
        raise WeightsError(f"{weights.path}: layer {layer} {part} have shape {value.shape} but "
                           f"the graph's {variable.op.name} is {expected}; the network was built "
                           f"with other channel counts (width, num_classes)")
    return value


def restore_backbone(sess, weights, scope=None, strict=False, include_head=False):
    """Assign `weights` to the matching `[scope/]<layer>/weights|biases` variables.

    The graph must have been built with `weights=weights` so that its
    preprocessing matches the file. Backbone layers absent from the file are
    logged and listed in `report.missing` (`strict=True` raises instead).
    fc8 is restored only into an fc8 variable of identical shape.
    `include_head=True` also restores score_* and upscore* layers, as in the
    released FCN models. Returns a `RestoreReport` (a list of restored names).
    """
    graph = sess.graph
    prefix = f"{scope}/" if scope else ""
    check_convention(graph, weights, prefix)
    variables = {v.op.name: v for v in graph.get_collection(
        tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)}
    arch = graph_arch(variables, prefix)
    if arch != weights.arch:
        raise WeightsError(f"{weights.path}: holds {weights.arch} weights but the graph's "
                           f"backbone is {arch}; build it with backbone='{weights.arch}'")
    backbone = architecture.layer_names(arch)
    missing = weights.missing_backbone_layers()
    if missing:
        if strict:
            raise WeightsError(f"{weights.path}: no weights for backbone layers "
                               f"{', '.join(missing)} (strict restore)")
        log.warning("%s: backbone layers not in the file keep their initialisers: %s",
                    weights.path, ", ".join(missing))
    # (variable, value) pairs: variables are unhashable while eager execution is on.
    assignments, restored, unused = [], [], []
    for layer, (kernel, bias) in weights.layers.items():
        kernel_var = variables.get(f"{prefix}{layer}/weights")
        bias_var = variables.get(f"{prefix}{layer}/biases")
        wanted = (layer in backbone
                  or (layer == "fc8" and kernel_var is not None
                      and tuple(kernel_var.shape.as_list()) == kernel.shape)
                  or (include_head and HEAD_LAYER.match(layer) and kernel_var is not None))
        if not wanted:
            unused.append(layer)
            continue
        if kernel_var is None:
            raise WeightsError(f"{weights.path}: layer {layer} is part of the {arch} backbone "
                               f"but the graph has no {prefix}{layer}/weights variable; build "
                               f"the network with build_fcn/build_vgg")
        assignments.append((kernel_var, checked_value(weights, layer, kernel_var, kernel,
                                                      "weights")))
        if bias_var is not None:
            assignments.append((bias_var, checked_value(weights, layer, bias_var, bias,
                                                        "biases")))
        elif bias is not None:
            raise WeightsError(f"{weights.path}: layer {layer} has biases but the graph's "
                               f"{prefix}{layer} has none")
        restored.append(layer)
    if unused:
        log.info("%s: layers not restored into this graph: %s", weights.path, ", ".join(unused))
    sess.run([v.initializer for v, _ in assignments],
             feed_dict={v.initializer.inputs[1]: value for v, value in assignments})
    return RestoreReport(restored, missing, unused)
