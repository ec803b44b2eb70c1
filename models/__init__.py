"""Models: the ComputationalGraph engine, Sequential chains, building, training, checkpoints."""

from models.graph import ComputationalGraph
from models.sequential import Model, Sequential

__all__ = ["ComputationalGraph", "Model", "Sequential"]
