"""Callback: what hooks into `Trainer.fit`, and `Loop`, what a callback sees of the trainer."""

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from gategraph.core.params import Param
from gategraph.models.sequential import Model
from gategraph.optim.base import Optimizer
from gategraph.training.progress import Progress, State

Row = dict[str, Any]  # one epoch's metrics, as it goes into the history


class Loop(Protocol):
    """The trainer as its callbacks see it (`Trainer` is the implementation)."""

    model: Model
    optimizer: Optimizer
    params: dict[str, Param]  # by dotted name, in forward order
    buffers: dict[str, np.ndarray]  # saved but not trained: BatchNorm's running statistics
    progress: Progress
    best_weights: State | None  # the best epoch's values and buffers, kept for restoring
    final_epoch: int  # the epoch this fit ends at, unless it stops earlier
    stop_training: bool  # a callback sets it to end fit after the current epoch
    stop_requested: bool  # request_stop() was called: fit ends after the current step
    finished: bool  # fit ran to its end (neither interrupted nor failed)

    @property
    def stopping(self) -> bool: ...

    def state_dict(self) -> State: ...

    def request_stop(self) -> None: ...


class Callback:
    """Something that hooks into `Trainer.fit`: override the hooks you need.

        on_train_begin(trainer)          once per fit, before its first step
        on_epoch_begin(trainer)          each epoch (a loaded, partly trained one too)
        on_before_step(trainer, loss)    after backward, before the optimizer's update
        on_batch_end(trainer)            after the update; trainer.progress counts the step
        on_epoch_end(trainer, row)       after evaluation; `row` (already in the history)
                                         may get entries; trainer.stopping says if it is the last
        on_train_end(trainer)            however fit ends (trainer.finished: it ran to its end)

    fit calls the callbacks by ascending `order`, then in the order given: the non-finite
    guard (0) first, diagnostics (10) add to the row, early stopping (20) decides, yours (50)
    read it, checkpoints (80) save what all of them decided, the progress bar (90) last.
    The two per-step hooks run only for callbacks that override them, so the rest cost the
    step nothing.
    """

    order: int = 50

    def on_train_begin(self, trainer: Loop) -> None:
        """Before the first step of this fit."""

    def on_epoch_begin(self, trainer: Loop) -> None:
        """Before the epoch's first (or, resumed, next) step."""

    def on_before_step(self, trainer: Loop, loss: float) -> None:
        """Gradients are in the params' `grad`; raising here skips the update."""

    def on_batch_end(self, trainer: Loop) -> None:
        """After the optimizer's update of this step."""

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        """After the epoch's metrics are in the history and progress counts the epoch."""

    def on_train_end(self, trainer: Loop) -> None:
        """Last thing fit does, also when it is interrupted or raises."""


def ordered(callbacks: Sequence[Callback]) -> list[Callback]:
    """`callbacks` by ascending `order`; equal orders keep the given order."""
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"Trainer.fit needs callbacks that subclass Callback, got {type(callback).__name__}"
            )
    return sorted(callbacks, key=lambda callback: callback.order)


def hooks(callbacks: Sequence[Callback], name: str) -> tuple[Callable[..., None], ...]:
    """The bound hook `name` of each callback whose class overrides it, in order."""
    default = getattr(Callback, name)
    return tuple(getattr(c, name) for c in callbacks if getattr(type(c), name) is not default)
