"""Trainer: the fit loop, Keras-style; what hooks into it lives beside it as callbacks."""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import fields

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number
from gategraph.core.params import Param, empty_aligned
from gategraph.data.batches import batch_slices, epoch_order
from gategraph.losses.base import Loss
from gategraph.models.sequential import Model
from gategraph.optim.base import Optimizer
from gategraph.optim.schedules import Schedule
from gategraph.saving.checkpoint import CheckpointError
from gategraph.training.callback import Callback, Row, hooks, ordered
from gategraph.training.early_stopping import EarlyStopping
from gategraph.training.evaluation import (
    Pair,
    check_pair,
    count_correct,
    evaluate,
    labels_of,
    predict,
)
from gategraph.training.guard import NonFiniteGuard
from gategraph.training.progress import MONITORS, Progress, State
from gategraph.training.progress_bar import ProgressBar
from gategraph.training.weights import copy_tree, load_weights, model_buffers


class Trainer:
    """Minibatch training of `model` under `loss` with `optimizer`, as Keras's `fit` spells it:

        trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.params(), lr=0.1), rng=rng)
        trainer.fit(X, y, epochs=5, batch_size=64, validation_data=(Xv, yv))
        trainer.fit(X, y, epochs=5, batch_size=64)  # 5 more: `epochs` counts this call

    The constructor takes what is trained and how each step goes, kept from one fit to the
    next: the model, loss and optimizer, the Generator that orders the data, the schedule,
    `clip_norm`, the evaluation batch size and the progress bar (off when `quiet`). `fit`
    takes what one call does: the data, how many epochs, the batch size, the validation data
    and the callbacks (early stopping, checkpoints, diagnostics, yours). `state_dict()` and
    `load_state_dict()` carry everything else, so a loaded trainer continues exactly.

    `fit` is this loop (callbacks are called by their `order`; see `Callback`):

        on_train_begin
        for each of `epochs` epochs (a loaded, partly trained epoch counts as the first):
            on_epoch_begin
            for each batch of the epoch's permutation (drawn from `rng`):
                scores = model(x); L = loss.forward(scores, y)
                dscores, _ = loss.backward(); model.backward(dscores)  # labels get no gradient
                on_before_step(L)      # the non-finite guard, which also clips to clip_norm
                optimizer.step()
                on_batch_end           # stop here after request_stop()
            row = the epoch's metrics; the best epoch and the schedule follow the monitor
            on_epoch_end(row)
            stop if a callback set stop_training (early stopping) or a stop was requested
        on_train_end

    Per-epoch metrics (`history`, one dict per epoch): `train_loss` and `train_acc` are means
    over the epoch's batches as they were trained (weighted by batch size, no extra pass),
    `train_penalty` = 0.5 * weight_decay * Σ W² at the end of the epoch (the logged objective
    is train_loss + train_penalty), `val_loss` and `val_acc` a clean pass in eval mode, `lr`
    the learning rate the epoch ran at, `seconds` its wall time. Accuracy is None when the
    labels are not integer class ids (regression). The monitor, which picks the best epoch,
    is EarlyStopping's when one is given, else val_loss (train_loss without validation data).
    """

    def __init__(
        self,
        model: Model,
        loss: Loss,
        optimizer: Optimizer,
        *,
        rng: Generator,
        schedule: Schedule | None = None,
        clip_norm: float | None = None,
        eval_batch_size: int = 1024,
        quiet: bool = False,
    ) -> None:
        check_number("Trainer", "eval_batch_size", eval_batch_size, low=1, integer=True)
        if clip_norm is not None:
            check_number("Trainer", "clip_norm", clip_norm, low=0.0, low_open=True)
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.rng, self.eval_batch_size, self.quiet = rng, eval_batch_size, quiet
        self.guard = NonFiniteGuard(clip_norm)
        self.params: dict[str, Param] = model.params()
        self.buffers = model_buffers(model)  # BatchNorm's running statistics and the like
        self.progress = Progress()
        self.best_weights: State | None = None  # the best epoch's, kept by early stopping
        self.final_epoch = 0  # the epoch the running fit ends at, unless it stops earlier
        self.stop_training = self.stop_requested = self.interrupted = self.finished = False
        self._callbacks: list[Callback] = []  # the running fit's, in order
        self._step_hooks: tuple[tuple[Callable[..., None], ...], ...] = ((), ())
        self._monitor, self._min_delta = "train_loss", 0.0
        self._epoch_start = 0.0
        self._buffers: tuple[np.ndarray, ...] = ()

    # ---- public API -----------------------------------------------------------------------

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: Pair | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> list[Row]:
        """Train `epochs` more epochs, or until a callback stops it; returns the history of
        every epoch so far (this call's last). After `request_stop` the current step
        finishes, `interrupted` is set and fit returns; with early stopping it leaves the best
        weights. Raises NonFiniteError before an update from a NaN or Inf."""
        val = self.check_fit(
            X, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
            callbacks=callbacks,
        )  # fmt: skip
        self._start(epochs, val, callbacks)
        try:
            with np.errstate(all="ignore"):  # non-finite values: the guard reports them
                self._loop((X, y), val, epochs, batch_size)
        finally:
            for callback in self._callbacks:
                callback.on_train_end(self)
        self.stop_requested = False  # the request is served: a new fit runs again
        return self.progress.history

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
        """{"loss": mean data loss, "acc": accuracy or None} in eval mode, batched, no caches."""
        return evaluate(self.model, self.loss, X, y, batch_size=self.eval_batch_size)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores (N, C) in eval mode, batched."""
        return predict(self.model, X, batch_size=self.eval_batch_size)

    def predict_labels(self, X: np.ndarray) -> np.ndarray:
        """Class ids (N,): argmax of the scores (scores > 0 for one output column)."""
        return labels_of(self.predict(X))

    def request_stop(self) -> None:
        """Ask `fit` to stop after the current step and save (safe to call from a signal)."""
        self.stop_requested = True

    @property
    def stopping(self) -> bool:
        """The epoch just finished is the running fit's last."""
        return self.progress.epoch >= self.final_epoch or self.stop_training

    @staticmethod
    def default_monitor(val: Pair | None) -> str:
        """The metric that picks the "best" epoch without early stopping."""
        return "val_loss" if val is not None else "train_loss"

    def check_fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int,
        batch_size: int,
        validation_data: Pair | None,
        callbacks: Sequence[Callback] = (),
    ) -> Pair | None:
        """Validate fit's arguments (empty validation data counts as none); returns the
        validation data or None."""
        check_number("Trainer.fit", "epochs", epochs, low=0, integer=True)
        check_number("Trainer.fit", "batch_size", batch_size, low=1, integer=True)
        check_pair("train", (X, y))
        val = validation_data
        if val is not None and len(val[0]) == 0:
            val = None
        if val is not None:
            check_pair("val", val)
        monitor = monitor_of(ordered(callbacks), val)[0]
        if monitor.startswith("val") and val is None:
            raise ValueError(
                f"early stopping monitors {monitor} but there is no validation data "
                "(set data.val_fraction > 0)"
            )
        p = self.progress
        if p.step and p.seen != min(p.step * batch_size, len(X)):
            raise ValueError(
                f"Trainer.fit: the loaded state is {p.step} batches ({p.seen} samples) into "
                f"epoch {p.epoch + 1}; finishing it exactly needs the batch size it was saved "
                f"with, got batch_size {batch_size}"
            )
        return val

    # ---- state ----------------------------------------------------------------------------

    def state_dict(self) -> State:
        """Everything needed to resume exactly: weights, optimizer, schedule, the Generator's
        state, progress (with this epoch's permutation) and history. Arrays are copies."""
        p = self.progress
        progress = {f.name: getattr(p, f.name) for f in fields(p) if f.name != "history"}
        progress["perm"] = None if p.perm is None else p.perm.copy()
        if p.step:
            progress["seconds"] = time.perf_counter() - self._epoch_start
        return {
            "params": {name: param.value.copy() for name, param in self.params.items()},
            "buffers": {name: array.copy() for name, array in self.buffers.items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "rng": self.rng.bit_generator.state,
            "progress": progress,
            "best_weights": None if self.best_weights is None else copy_tree(self.best_weights),
            "history": [dict(row) for row in p.history],
        }

    def load_state_dict(self, state: State, *, source: str = "state") -> None:
        """Restore `state_dict()` output. Raises CheckpointError naming `source`: for params
        that do not match the model it lists every difference."""
        try:
            self._load_state(state, source)
        except CheckpointError:
            raise
        except KeyError as err:
            raise CheckpointError(f"{source}: not a trainer state, {err} is missing") from None
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: cannot restore the trainer: {err}") from None

    def _load_state(self, state: State, source: str) -> None:
        load_weights(self.model, state, source=source)
        self.optimizer.load_state_dict(state["optimizer"])
        if (self.schedule is None) != (state["schedule"] is None):
            raise ValueError("a schedule is configured on one side only")
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.rng.bit_generator.state = state["rng"]
        history = [dict(row) for row in state["history"]]
        self.progress = Progress(**state["progress"], history=history)
        best = state["best_weights"]
        self.best_weights = None if best is None else copy_tree(best)

    # ---- the loop -------------------------------------------------------------------------

    def _start(self, epochs: int, val: Pair | None, callbacks: Sequence[Callback]) -> None:
        """Set up one fit: its callbacks in order, its monitor, its final epoch."""
        bar = [] if self.quiet else [ProgressBar()]
        self._callbacks = ordered([self.guard, *callbacks, *bar])
        self._monitor, self._min_delta = monitor_of(self._callbacks, val)
        self._step_hooks = (
            hooks(self._callbacks, "on_before_step"),
            hooks(self._callbacks, "on_batch_end"),
        )
        self.final_epoch = self.progress.epoch + epochs
        self.stop_training = self.interrupted = self.finished = False
        for callback in self._callbacks:
            callback.on_train_begin(self)

    def _loop(self, train: Pair, val: Pair | None, epochs: int, batch_size: int) -> None:
        classify = train[1].dtype.kind in "iu"  # integer labels: accuracy is defined
        for _ in range(epochs):
            self._begin_epoch(len(train[0]))
            self._train_epoch(*train, batch_size, classify)
            if self.interrupted:
                return
            row = self._end_epoch(val, classify)
            for callback in self._callbacks:
                callback.on_epoch_end(self, row)
            if self.stopping:
                break
            if self.stop_requested:
                self.interrupted = True
                return
        self.finished = True

    def _begin_epoch(self, n: int) -> None:
        p = self.progress
        if p.perm is None:
            p.perm = epoch_order(n, self.rng)
        if p.stopped:  # an earlier fit stopped early here: this one trains on, patience anew
            p.stopped, p.bad_epochs = False, 0
        self._epoch_start = time.perf_counter() - p.seconds
        self.model.train()
        for callback in self._callbacks:
            callback.on_epoch_begin(self)

    def _train_epoch(self, X: np.ndarray, y: np.ndarray, batch_size: int, classify: bool) -> None:
        p, model, loss, optimizer = self.progress, self.model, self.loss, self.optimizer
        before_step, batch_end = self._step_hooks
        x_buf, y_buf, pred, hits = self._batch_buffers(X, y, batch_size)
        for idx in batch_slices(p.perm, batch_size, start=p.step):
            n = len(idx)
            xb = np.take(X, idx, axis=0, out=x_buf[:n], mode="clip")  # idx valid: no bounds pass
            yb = np.take(y, idx, out=y_buf[:n], mode="clip")
            scores = model.forward(xb)
            value = loss.forward(scores, yb)
            if classify:
                p.correct += count_correct(scores, yb, pred[:n], hits[:n])
            dscores, _ = loss.backward()  # the labels get no gradient
            model.backward(dscores)
            for hook in before_step:
                hook(self, value)
            optimizer.step()
            p.loss_sum += value * n
            p.seen += n
            p.step += 1
            p.global_step += 1
            for hook in batch_end:
                hook(self)
            if self.stop_requested:
                self.interrupted = True
                return

    def _batch_buffers(self, X: np.ndarray, y: np.ndarray, batch_size: int) -> tuple:
        """x, y, predicted-class and hit buffers of one batch, reused every step."""
        bs = min(batch_size, len(X))
        shapes = ((bs, *X.shape[1:]), X.dtype), ((bs, *y.shape[1:]), y.dtype)
        if [(b.shape, b.dtype) for b in self._buffers[:2]] != list(shapes):
            self._buffers = (
                empty_aligned(*shapes[0]),  # the first layer's GEMMs read it: 64-byte aligned
                np.empty(*shapes[1]),
                np.empty(bs, np.intp),
                np.empty(bs, bool),
            )
        return self._buffers

    def _end_epoch(self, val: Pair | None, classify: bool) -> Row:
        """The epoch's metrics row, appended to the history; the best epoch, the schedule
        and the progress moved on."""
        p = self.progress
        row: Row = {
            "epoch": p.epoch + 1,
            "train_loss": p.loss_sum / p.seen,
            "train_penalty": self.optimizer.penalty(),
            "train_acc": p.correct / p.seen if classify else None,
        }
        metrics = self.evaluate(*val) if val is not None else {"loss": None, "acc": None}
        row.update(val_loss=metrics["loss"], val_acc=metrics["acc"], lr=self.optimizer.lr)
        row["seconds"] = time.perf_counter() - self._epoch_start
        self._track_best(row[self._monitor])
        if self.schedule is not None:
            self.schedule.step(row[self._monitor])
        p.history.append(row)
        p.next_epoch()
        return row

    def _track_best(self, value: float | None) -> None:
        """Update best / best_epoch / bad_epochs for the epoch just finished."""
        p = self.progress
        if value is None or not math.isfinite(value):
            improved = False
        elif p.best is None:
            improved = True
        elif MONITORS[self._monitor] == "min":
            improved = value < p.best - self._min_delta
        else:
            improved = value > p.best + self._min_delta
        if improved:
            p.best, p.best_epoch, p.bad_epochs = value, p.epoch + 1, 0
        else:
            p.bad_epochs += 1


def monitor_of(callbacks: Sequence[Callback], val: Pair | None) -> tuple[str, float]:
    """(metric, min_delta) that pick the best epoch: early stopping's, else the default."""
    for callback in callbacks:
        if isinstance(callback, EarlyStopping):
            return callback.monitor, callback.min_delta
    return Trainer.default_monitor(val), 0.0
