"""Models: the ComputationalGraph engine, Sequential chains, building, training, checkpoints."""

from gategraph.models.autodiff import RunPlan
from gategraph.models.graph import ComputationalGraph
from gategraph.models.sequential import Model, Sequential

__all__ = ["ComputationalGraph", "Model", "RunPlan", "Sequential"]
