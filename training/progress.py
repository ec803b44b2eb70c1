"""Progress: where training stands, besides weights and optimizer; and the metric names."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

State = dict[str, Any]  # a state_dict(): nested dicts of arrays and JSON scalars
MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min", "train_acc": "max"}
COLUMNS = ("epoch", "train_loss", "train_penalty", "train_acc", "val_loss", "val_acc", "lr")


@dataclass
class Progress:
    """Everything, besides weights and optimizer, needed to resume exactly."""

    epoch: int = 0  # epochs finished
    step: int = 0  # batches done in the current epoch
    global_step: int = 0  # batches done in all
    perm: np.ndarray | None = None  # the current epoch's sample order, drawn at its start
    loss_sum: float = 0.0  # Σ batch data loss * batch size, in the current epoch
    correct: int = 0  # correct predictions in the current epoch
    seen: int = 0  # samples seen in the current epoch
    seconds: float = 0.0  # time spent in the current epoch before the last checkpoint
    best: float | None = None  # best value of the monitored metric so far
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs in a row without improvement
    stopped: bool = False  # early stopping ended the last epoch trained
    history: list[dict[str, Any]] = field(default_factory=list)

    def next_epoch(self) -> None:
        """Count the epoch just finished and clear the per-epoch fields."""
        self.epoch += 1
        self.step = self.correct = self.seen = 0
        self.loss_sum = self.seconds = 0.0
        self.perm = None
