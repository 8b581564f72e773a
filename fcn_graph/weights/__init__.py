"""Pretrained VGG/FCN weights: loading any published format, restoring, staged init."""
from fcn_graph.weights.load import detect_format, load_weights
from fcn_graph.weights.model import Weights, WeightsError
from fcn_graph.weights.restore import RestoreReport, restore_backbone
from fcn_graph.weights.staged import StagedInit

__all__ = ["RestoreReport", "StagedInit", "Weights", "WeightsError", "detect_format",
           "load_weights", "restore_backbone"]
