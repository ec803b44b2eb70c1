"""Models: the ComputationalGraph engine, Sequential chains, building, training, checkpoints."""

from models.graph import ComputationalGraph
from models.sequential import Sequential

__all__ = ["ComputationalGraph", "Sequential"]
