"""Optimizers of the SGD family, registered in OPTIMIZERS."""

from gategraph.optim import adagrad, adam, adamw, clip, rmsprop, schedules, sgd  # noqa: F401  (registration runs on import)
from gategraph.optim.base import OPTIMIZERS, Optimizer

__all__ = ["OPTIMIZERS", "Optimizer"]
