"""Checkpoint timing: when fit hands states to a `save` function, and which ones."""

from collections.abc import Callable, Mapping

from gategraph.core.checks import check_number
from gategraph.training.callback import Callback, Loop, Row
from gategraph.training.guard import check_weights
from gategraph.training.progress import State

Save = Callable[[Mapping[str, State]], None]  # {"last": state, "best": state} -> written


class Checkpoints(Callback):
    """Calls `save({kind: state})` with `trainer.state_dict()`s: "last" every `every_epochs`
    epochs, every `every_steps` steps, when fit ends and after `request_stop`; "best", the
    state of the epoch where the monitored metric last improved, along with the next "last"
    (the two may be one object). A best epoch between two saves waits in memory, so the
    frequencies bound all writes. Non-finite weights are never handed over (NonFiniteError).
    """

    order = 80

    def __init__(self, save: Save, *, every_epochs: int = 1, every_steps: int | None = None):
        check_number("Checkpoints", "every_epochs", every_epochs, low=1, integer=True)
        if every_steps is not None:
            check_number("Checkpoints", "every_steps", every_steps, low=1, integer=True)
        self.save, self.every_epochs, self.every_steps = save, every_epochs, every_steps
        self._pending_best: State | None = None  # a best state not yet saved

    def on_batch_end(self, trainer: Loop) -> None:
        every = self.every_steps
        if trainer.stop_requested or (every and trainer.progress.global_step % every == 0):
            self._checkpoint(trainer, last=True, best=False)

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        p = trainer.progress
        due = trainer.stopping or trainer.stop_requested or p.epoch % self.every_epochs == 0
        self._checkpoint(trainer, last=due, best=p.best_epoch == p.epoch)

    def _checkpoint(self, trainer: Loop, *, last: bool, best: bool) -> None:
        if best:
            self._pending_best = None
        if not last:
            if best:
                self._pending_best = trainer.state_dict()
            return
        check_weights(trainer)
        current = trainer.state_dict()
        states = {"last": current}
        if best or self._pending_best is not None:
            states["best"] = current if best else self._pending_best
        self._pending_best = None
        self.save(states)
