"""Optimizers of the SGD family, registered in OPTIMIZERS."""

from optim import adagrad, adam, adamw, clip, rmsprop, schedules, sgd  # noqa: F401  (registration runs on import)
from optim.base import OPTIMIZERS, Optimizer

__all__ = ["OPTIMIZERS", "Optimizer"]
