"""Pretrained VGG/FCN weights: loading any published format, restoring, staged init."""
from fcn_graph.weights.load import detect_format, load_weights
from fcn_graph.weights.model import Weights, WeightsError

__all__ = ["Weights", "WeightsError", "detect_format", "load_weights"]
