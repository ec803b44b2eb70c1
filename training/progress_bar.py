"""The progress bar: one tqdm bar over the epochs of a fit, on a terminal only."""

import sys
from typing import Any

from tqdm import tqdm

from gategraph.training.callback import Callback, Loop, Row

SHOWN = ("train_loss", "train_acc", "val_loss", "val_acc")


class ProgressBar(Callback):
    """A bar on stderr from the epochs already done to `trainer.final_epoch`, with the last
    epoch's losses and accuracies; shown only when stderr is a terminal. A Trainer adds one
    unless it is `quiet`."""

    order = 90
    _bar: Any = None  # the tqdm bar of the running fit

    def on_train_begin(self, trainer: Loop) -> None:
        self._bar = tqdm(
            total=trainer.final_epoch,
            initial=trainer.progress.epoch,
            unit="epoch",
            dynamic_ncols=True,
            leave=False,
            disable=not sys.stderr.isatty(),
        )

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        self._bar.update(1)
        postfix = {k.replace("train_", ""): f"{row[k]:.4f}" for k in SHOWN if row[k] is not None}
        self._bar.set_postfix(postfix, refresh=False)

    def on_train_end(self, trainer: Loop) -> None:
        self._bar.close()
