"""Training: the loop (Trainer.fit) and what hooks into it, evaluation and prediction."""

from gategraph.training.trainer import EarlyStopping, NonFiniteError, Trainer

__all__ = ["EarlyStopping", "NonFiniteError", "Trainer"]
