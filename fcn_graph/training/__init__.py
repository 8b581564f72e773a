"""Training FCNs: settings, optimizers, checkpoints, summaries and the session loop.

    from fcn_graph.training import TrainConfig, train
    result = train(TrainConfig(dataset="synthetic", max_steps=600))
    result["validation"]["mean_iu"]
"""
from fcn_graph.training.config import TrainConfig, resolve
from fcn_graph.training.loop import train

__all__ = ["TrainConfig", "resolve", "train"]
