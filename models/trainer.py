"""Trainer: the fit / evaluate / predict loop, with early stopping, checkpoints, exact resume,
and a check that stops on the first non-finite loss or gradient before any update."""

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.random import Generator
from tqdm import tqdm

from data.batches import batch_slices, epoch_order
from layers.base import Param
from losses.base import Loss
from models.checkpoint import load_params
from models.sequential import Model
from optim.base import Optimizer
from optim.clip import clip_grad_norm
from optim.schedules import Schedule

Pair = tuple[np.ndarray, np.ndarray]
MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min", "train_acc": "max"}
COLUMNS = ("epoch", "train_loss", "train_penalty", "train_acc", "val_loss", "val_acc", "lr")
HINT = "lower the learning rate (optim.lr) or clip gradients (train.clip_norm)"


@dataclass(frozen=True)
class EarlyStopping:
    """Stop once `monitor` has not improved by more than `min_delta` for `patience` epochs in a
    row; the best weights are restored when `fit` returns."""

    monitor: str = "val_loss"
    patience: int = 10
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ValueError(
                f"EarlyStopping monitor must be one of {list(MONITORS)}, got {self.monitor!r}"
            )
        if (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, int)
            or (self.patience < 1)
        ):
            raise ValueError(f"EarlyStopping needs an integer patience >= 1, got {self.patience!r}")
        if not (isinstance(self.min_delta, int | float) and self.min_delta >= 0):
            raise ValueError(f"EarlyStopping needs min_delta >= 0, got {self.min_delta!r}")


class NonFiniteError(FloatingPointError):
    """Training met a NaN or Inf before applying an update; nothing was changed by that step."""

    def __init__(self, message: str, *, step: int, param: str | None) -> None:
        super().__init__(message)
        self.step, self.param = step, param


@dataclass
class Progress:
    """Where training stands: everything, besides weights and optimizer, needed to resume."""

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
    stopped: bool = False  # early stopping fired
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Minibatch training of `model` under `loss` with `optimizer`.

    Each step: take the batch (indices of this epoch's permutation, drawn from `rng`),
    scores = model.forward(x), L = loss.forward(scores, y), model.backward(loss.backward()),
    check that L and every gradient are finite, clip the global gradient norm to `clip_norm`,
    optimizer.step(). After each epoch the schedule steps once with the monitored metric.

    Per-epoch metrics (`history`, one dict per epoch): `train_loss` and `train_acc` are means
    over the epoch's batches as they were trained (weighted by batch size, no extra pass),
    `train_penalty` = 0.5 * weight_decay * Σ W² at the end of the epoch (the logged objective
    is train_loss + train_penalty), `val_loss` and `val_acc` a clean pass in eval mode, `lr`
    the learning rate the epoch ran at, `seconds` its wall time. Accuracy is None when the
    labels are not integer class ids (regression).
    """

    def __init__(
        self,
        model: Model,
        loss: Loss,
        optimizer: Optimizer,
        *,
        rng: Generator,
        batch_size: int,
        schedule: Schedule | None = None,
        clip_norm: float | None = None,
        eval_batch_size: int = 1024,
        quiet: bool = False,
    ) -> None:
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Trainer needs an integer {key} >= 1, got {value!r}")
        if clip_norm is not None and not (isinstance(clip_norm, int | float) and clip_norm > 0):
            raise ValueError(f"Trainer needs clip_norm > 0 or None, got {clip_norm!r}")
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.rng, self.batch_size, self.clip_norm = rng, batch_size, clip_norm
        self.eval_batch_size, self.quiet = eval_batch_size, quiet
        self.params: dict[str, Param] = model.params()
        self.progress = Progress()
        self.best_values: np.ndarray | None = None  # weights of the best epoch (early stopping)
        self.interrupted = False
        self._stop_requested = False
        self._epoch_start = 0.0
        self._buffers: tuple[np.ndarray, ...] = ()
        self._classify = True  # integer labels: accuracy is defined

    # ---- public API -----------------------------------------------------------------------

    def fit(
        self,
        train: Pair,
        val: Pair | None = None,
        *,
        epochs: int,
        early_stopping: EarlyStopping | None = None,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
        save: Callable[[str], None] | None = None,
        checkpoint_every_epochs: int = 1,
        checkpoint_every_steps: int | None = None,
    ) -> list[dict[str, Any]]:
        """Train until `epochs` epochs are done (counting those of a loaded state) or early
        stopping fires; returns the history. `on_epoch_end(row)` sees each epoch's metrics;
        `save(kind)` is called to write the "last" checkpoint (every `checkpoint_every_epochs`
        epochs, every `checkpoint_every_steps` steps, at the end and on `request_stop`) and
        the "best" one (whenever the monitored metric improves). After `request_stop` the
        current step finishes, "last" is saved, `interrupted` is set, and fit returns.
        """
        val = self.check_fit(train, val, epochs=epochs, early_stopping=early_stopping)
        monitor = early_stopping.monitor if early_stopping else self.default_monitor(val)
        p, save = self.progress, save or (lambda kind: None)
        with np.errstate(all="ignore"), self._bar(epochs) as bar:  # non-finite: checked below
            while p.epoch < epochs and not p.stopped and not self.interrupted:
                self._train_epoch(train, save, checkpoint_every_steps)
                if self.interrupted:
                    break
                row, improved = self._end_epoch(val, monitor, early_stopping)
                if on_epoch_end is not None:
                    on_epoch_end(row)
                if improved:
                    save("best")
                last = p.epoch == epochs or p.stopped or self._stop_requested
                if last or p.epoch % checkpoint_every_epochs == 0:
                    save("last")
                self.interrupted = self._stop_requested and p.epoch < epochs and not p.stopped
                bar.update(1)
                bar.set_postfix(self._postfix(row), refresh=False)
        if early_stopping is not None and self.best_values is not None and not self.interrupted:
            self.optimizer.values[...] = self.best_values
        return p.history

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
        self._stop_requested = True

    @staticmethod
    def default_monitor(val: Pair | None) -> str:
        """The metric that picks the "best" checkpoint without early stopping."""
        return "val_loss" if val is not None else "train_loss"

    def check_fit(
        self, train: Pair, val: Pair | None, *, epochs: int, early_stopping: EarlyStopping | None
    ) -> Pair | None:
        """Validate fit's arguments (an empty val counts as none); returns val or None."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"Trainer.fit needs an integer epochs >= 0, got {epochs!r}")
        _check_pair("train", train)
        if val is not None and len(val[0]) == 0:
            val = None
        if val is not None:
            _check_pair("val", val)
        if early_stopping and early_stopping.monitor.startswith("val") and val is None:
            raise ValueError(
                f"early stopping monitors {early_stopping.monitor} but there is no validation "
                "data (set data.val_fraction > 0)"
            )
        return val

    # ---- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: weights, optimizer, schedule, the Generator's
        state, progress (with this epoch's permutation) and history. Arrays are copies."""
        p = self.progress
        progress = {f.name: getattr(p, f.name) for f in fields(p) if f.name != "history"}
        progress["perm"] = None if p.perm is None else p.perm.copy()
        if p.step:
            progress["seconds"] = time.perf_counter() - self._epoch_start
        return {
            "params": {name: param.value.copy() for name, param in self.params.items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "rng": self.rng.bit_generator.state,
            "progress": progress,
            "best_values": None if self.best_values is None else self.best_values.copy(),
            "history": [dict(row) for row in p.history],
        }

    def load_state_dict(self, state: dict[str, Any], *, source: str = "state") -> None:
        """Restore `state_dict()` output; a params mismatch raises naming every difference."""
        load_params(state["params"], self.params, source=source)
        self.optimizer.load_state_dict(state["optimizer"])
        if (self.schedule is None) != (state["schedule"] is None):
            raise ValueError(f"{source}: a schedule is configured on one side only")
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.rng.bit_generator.state = state["rng"]
        progress = dict(state["progress"])
        self.progress = Progress(**progress, history=[dict(r) for r in state["history"]])
        best = state["best_values"]
        self.best_values = None if best is None else np.array(best, self.optimizer.values.dtype)

    # ---- the loop -------------------------------------------------------------------------

    def _train_epoch(self, train: Pair, save: Callable[[str], None], every: int | None) -> None:
        X, y = train
        p = self.progress
        if p.perm is None:
            p.perm = epoch_order(len(X), self.rng)
        self._epoch_start = time.perf_counter() - p.seconds
        self.model.train()
        x_buf, y_buf, pred, hits = self._batch_buffers(X, y)
        self._classify = y.dtype.kind in "iu"
        for idx in batch_slices(p.perm, self.batch_size, start=p.step):
            n = len(idx)
            xb = np.take(X, idx, axis=0, out=x_buf[:n], mode="clip")  # idx valid: no bounds pass
            yb = np.take(y, idx, out=y_buf[:n], mode="clip")
            scores = self.model.forward(xb)
            loss = self.loss.forward(scores, yb)
            if self._classify:
                p.correct += _count_correct(scores, yb, pred[:n], hits[:n])
            self.model.backward(self.loss.backward())
            self._check_finite(loss)
            self.optimizer.step()
            p.loss_sum += loss * n
            p.seen += n
            p.step += 1
            p.global_step += 1
            if self._stop_requested or (every and p.global_step % every == 0):
                self._check_weights()
                save("last")
            if self._stop_requested:
                self.interrupted = True
                return

    def _batch_buffers(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """x, y, predicted-class and hit buffers of one batch, reused every step."""
        bs = min(self.batch_size, len(X))
        shapes = ((bs, *X.shape[1:]), X.dtype), ((bs, *y.shape[1:]), y.dtype)
        if [(b.shape, b.dtype) for b in self._buffers[:2]] != list(shapes):
            self._buffers = (
                np.empty(*shapes[0]),
                np.empty(*shapes[1]),
                np.empty(bs, np.intp),
                np.empty(bs, bool),
            )
        return self._buffers

    def _check_finite(self, loss: float) -> None:
        """Stop before the update when the loss or a gradient is NaN or Inf (one cheap pass)."""
        grads = self.optimizer.grads
        if self.clip_norm is not None:
            finite = math.isfinite(clip_grad_norm(grads, self.clip_norm))  # clips only if finite
        else:
            finite = math.isfinite(grads.sum())  # a NaN or Inf anywhere makes the sum non-finite
        if not (finite and math.isfinite(loss)):
            raise self._non_finite(f"loss = {loss}", "gradient", lambda p: p.grad)

    def _check_weights(self) -> None:
        """Refuse to record weights that an update made non-finite (keeps the last good save)."""
        if not math.isfinite(self.optimizer.values.sum()):
            raise self._non_finite("after the update", "weight", lambda p: p.value)

    def _non_finite(self, what: str, kind: str, pick: Callable[[Param], np.ndarray]) -> Exception:
        p = self.progress
        bad = next((n for n, q in self.params.items() if not np.isfinite(pick(q)).all()), None)
        weights = next((n for n, q in self.params.items() if not np.isfinite(q.value).all()), None)
        if weights is not None and kind == "gradient":
            where = f"the weights are already non-finite (first: {weights})"
            bad = weights
        elif bad is not None:
            where = f"first non-finite {kind}: {bad}"
        else:
            where = f"every {kind} is finite but their sum overflows"
        step = p.global_step + 1 if kind == "gradient" else p.global_step
        message = (
            f"non-finite value at step {step} (epoch {p.epoch + 1}, batch {p.step + 1}): "
            f"{what}; {where}; training stopped before the update, the last checkpoint is "
            f"kept; {HINT}"
        )
        return NonFiniteError(message, step=step, param=bad)

    def _end_epoch(
        self, val: Pair | None, monitor: str, early_stopping: EarlyStopping | None
    ) -> tuple[dict[str, Any], bool]:
        p = self.progress
        self._check_weights()
        row: dict[str, Any] = {
            "epoch": p.epoch + 1,
            "train_loss": p.loss_sum / p.seen,
            "train_penalty": self.optimizer.penalty(),
            "train_acc": p.correct / p.seen if self._classify else None,
        }
        metrics = self.evaluate(*val) if val is not None else {"loss": None, "acc": None}
        row.update(val_loss=metrics["loss"], val_acc=metrics["acc"], lr=self.optimizer.lr)
        row["seconds"] = time.perf_counter() - self._epoch_start
        improved = self._track_best(row[monitor], MONITORS[monitor], early_stopping)
        if self.schedule is not None:
            self.schedule.step(row[monitor])
        history = p.history + [row]
        self.progress = Progress(
            epoch=p.epoch + 1,
            global_step=p.global_step,
            best=p.best,
            best_epoch=p.best_epoch,
            bad_epochs=p.bad_epochs,
            stopped=p.stopped,
            history=history,
        )
        return row, improved

    def _track_best(
        self, value: float | None, mode: str, early_stopping: EarlyStopping | None
    ) -> bool:
        """Update best / bad_epochs / stopped for the epoch just finished; True if it improved."""
        p = self.progress
        min_delta = early_stopping.min_delta if early_stopping else 0.0
        if value is None or not math.isfinite(value):
            improved = False
        elif p.best is None:
            improved = True
        elif mode == "min":
            improved = value < p.best - min_delta
        else:
            improved = value > p.best + min_delta
        if improved:
            p.best, p.best_epoch, p.bad_epochs = value, p.epoch + 1, 0
            if early_stopping is not None:
                self.best_values = self.optimizer.values.copy()
        else:
            p.bad_epochs += 1
            p.stopped = early_stopping is not None and p.bad_epochs >= early_stopping.patience
        return improved

    def _bar(self, epochs: int) -> tqdm:
        """One bar over epochs on stderr, shown only on a terminal and unless `quiet`."""
        return tqdm(
            total=epochs,
            initial=self.progress.epoch,
            unit="epoch",
            dynamic_ncols=True,
            leave=False,
            disable=self.quiet or not sys.stderr.isatty(),
        )

    @staticmethod
    def _postfix(row: dict[str, Any]) -> dict[str, str]:
        keys = ("train_loss", "train_acc", "val_loss", "val_acc")
        return {k.replace("train_", ""): f"{row[k]:.4f}" for k in keys if row[k] is not None}


def evaluate(
    model: Model, loss: Loss, X: np.ndarray, y: np.ndarray, *, batch_size: int = 1024
) -> dict[str, float | None]:
    """{"loss": mean data loss, "acc": accuracy (None unless y holds integer class ids)},
    in eval mode without caches, `batch_size` rows at a time (weighted by batch size)."""
    _check_pair("evaluate", (X, y))
    total, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        scores = model.predict(xb)
        total += loss.forward(scores, yb) * len(xb)
        correct += int(np.count_nonzero(labels_of(scores) == yb))
    loss.clear_cache()
    accuracy = correct / len(X) if y.dtype.kind in "iu" else None
    return {"loss": total / len(X), "acc": accuracy}


def predict(model: Model, X: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """Scores for every row of X, in eval mode without caches, `batch_size` rows at a time."""
    if len(X) == 0:
        raise ValueError(f"predict needs at least one sample, got X of shape {np.shape(X)}")
    return np.concatenate(
        [model.predict(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
    )


def labels_of(scores: np.ndarray) -> np.ndarray:
    """Predicted class ids (N,): argmax over classes, or scores > 0 for one output column."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(axis=1)
    return (scores.reshape(len(scores)) > 0).astype(np.intp)


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of true class i predicted as class j.  (C, C) ints."""
    if len(y) and (y.min() < 0 or max(y.max(), predicted.max()) >= n_classes):
        raise ValueError(
            f"confusion_matrix needs class ids in [0, {n_classes}), got labels "
            f"{int(y.min())}..{int(max(y.max(), predicted.max()))}"
        )
    flat = np.asarray(y, np.intp) * n_classes + np.asarray(predicted, np.intp)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _count_correct(scores: np.ndarray, y: np.ndarray, pred: np.ndarray, hits: np.ndarray) -> int:
    """Correct predictions in a batch, through the reused `pred` and `hits` buffers."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        np.equal(np.argmax(scores, axis=1, out=pred), y, out=hits)
    else:
        np.equal(np.greater(scores.reshape(len(y)), 0, out=hits), y, out=hits)
    return int(np.count_nonzero(hits))


def _check_pair(name: str, pair: Pair) -> None:
    X, y = pair
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(
            f"{name} data must be NumPy arrays (X, y), got {type(X).__name__}, {type(y).__name__}"
        )
    if len(X) == 0:
        raise ValueError(f"{name} data is empty: X has shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"{name} data: X has {len(X)} rows but y has {len(y)}")
