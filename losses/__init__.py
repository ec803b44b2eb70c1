"""Losses: the gates that end a graph, registered in LOSSES."""

from gategraph.losses import mse, sigmoid_bce, softmax_cross_entropy, svm_hinge  # noqa: F401  (registration runs on import)
from gategraph.losses.base import LOSSES, Loss

__all__ = ["LOSSES", "Loss"]
