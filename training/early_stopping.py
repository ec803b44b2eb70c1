"""Early stopping: end fit once the monitored metric stops improving; keep the best weights."""

from dataclasses import dataclass

from gategraph.core.checks import check_number
from gategraph.training.callback import Callback, Loop, Row
from gategraph.training.progress import MONITORS
from gategraph.training.weights import copy_tree


@dataclass(frozen=True)
class EarlyStopping(Callback):
    """Stop once `monitor` has not improved by more than `min_delta` for `patience` epochs in a
    row; the best weights are restored when fit returns (unless interrupted).

    The trainer's best epoch (and the "best" checkpoint) follows this `monitor` and
    `min_delta`. Another fit after early stopping fired trains on, counting patience afresh.
    """

    monitor: str = "val_loss"
    patience: int = 10
    min_delta: float = 0.0
    order = 20

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ValueError(
                f"EarlyStopping monitor must be one of {list(MONITORS)}, got {self.monitor!r}"
            )
        check_number("EarlyStopping", "patience", self.patience, low=1, integer=True)
        check_number("EarlyStopping", "min_delta", self.min_delta, low=0.0)

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        p = trainer.progress
        if p.best_epoch == p.epoch:
            trainer.best_weights = copy_tree(
                {"values": trainer.optimizer.values, "buffers": trainer.buffers}
            )
        elif p.bad_epochs >= self.patience:
            p.stopped = trainer.stop_training = True

    def on_train_end(self, trainer: Loop) -> None:
        if trainer.finished and trainer.best_weights is not None:
            trainer.optimizer.values[...] = trainer.best_weights["values"]
            for name, array in trainer.buffers.items():
                array[...] = trainer.best_weights["buffers"][name]
