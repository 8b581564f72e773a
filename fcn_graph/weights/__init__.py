"""Pretrained VGG/FCN weights: loading any published format and restoring it into a graph."""
from fcn_graph.weights.load import detect_format, load_weights
from fcn_graph.weights.model import Weights, WeightsError
from fcn_graph.weights.restore import RestoreReport, restore_backbone

__all__ = ["RestoreReport", "Weights", "WeightsError", "detect_format",
           "load_weights", "restore_backbone"]
