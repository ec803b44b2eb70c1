"""Optimizers of the SGD family, registered in OPTIMIZERS; learning-rate schedules in SCHEDULES.

Every optimizer and schedule class is importable from here: `from gategraph.optim import SGD, Adam`.
"""

from gategraph.optim.adagrad import Adagrad
from gategraph.optim.adam import Adam
from gategraph.optim.adamw import AdamW
from gategraph.optim.base import OPTIMIZERS, Chunk, Optimizer
from gategraph.optim.clip import clip_grad_norm
from gategraph.optim.rmsprop import RMSProp
from gategraph.optim.schedules import (
    SCHEDULES,
    CosineAnnealing,
    EpochSchedule,
    ExponentialDecay,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
)
from gategraph.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Chunk",
    "CosineAnnealing",
    "EpochSchedule",
    "ExponentialDecay",
    "Optimizer",
    "RMSProp",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "clip_grad_norm",
]
