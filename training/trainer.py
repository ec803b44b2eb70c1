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

from gategraph.core.checks import check_number
from gategraph.core.params import Param, empty_aligned
from gategraph.data.batches import batch_slices, epoch_order
from gategraph.losses.base import Loss
from gategraph.models.sequential import Model
from gategraph.optim.base import Optimizer
from gategraph.optim.clip import clip_grad_norm
from gategraph.optim.schedules import Schedule
from gategraph.saving.checkpoint import CheckpointError, load_arrays
from gategraph.training.diagnostics import Diagnostics

Pair = tuple[np.ndarray, np.ndarray]
State = dict[str, Any]  # a state_dict(): nested dicts of arrays and JSON scalars
MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min", "train_acc": "max"}
DIAGNOSTICS_PROBE = 256  # training samples of the fixed batch that finds dead ReLUs
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
        check_number("EarlyStopping", "patience", self.patience, low=1, integer=True)
        check_number("EarlyStopping", "min_delta", self.min_delta, low=0.0)


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
    scores = model.forward(x), L = loss.forward(scores, y), (dscores, _) = loss.backward(),
    model.backward(dscores), check that L and every gradient are finite, clip the global
    gradient norm to `clip_norm`, optimizer.step(). After each epoch the schedule steps once
    with the monitored metric.

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
        diagnostics: bool = False,
    ) -> None:
        check_number("Trainer", "batch_size", batch_size, low=1, integer=True)
        check_number("Trainer", "eval_batch_size", eval_batch_size, low=1, integer=True)
        if clip_norm is not None:
            check_number("Trainer", "clip_norm", clip_norm, low=0.0, low_open=True)
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.rng, self.batch_size, self.clip_norm = rng, batch_size, clip_norm
        self.eval_batch_size, self.quiet = eval_batch_size, quiet
        self.want_diagnostics = diagnostics
        self.diagnostics: Diagnostics | None = None  # made at the first epoch: it needs data
        self.params: dict[str, Param] = model.params()
        self.buffers = model_buffers(model)  # BatchNorm's running statistics and the like
        self.progress = Progress()
        self.best_weights: dict[str, Any] | None = None  # best epoch's, for early stopping
        self.interrupted = False
        self._stop_requested = False
        self._epoch_start = 0.0
        self._buffers: tuple[np.ndarray, ...] = ()
        self._pending_best: State | None = None  # a best state not yet saved
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
        save: Callable[[dict[str, State]], None] | None = None,
        checkpoint_every_epochs: int = 1,
        checkpoint_every_steps: int | None = None,
    ) -> list[dict[str, Any]]:
        """Train until `epochs` epochs are done (counting those of a loaded state) or early
        stopping fires; returns the history, and with early stopping leaves the best weights.

        `on_epoch_end(row)` sees each epoch's metrics. `save({kind: state})` writes
        checkpoints of `state_dict()`s: "last" every `checkpoint_every_epochs` epochs, every
        `checkpoint_every_steps` steps, at the end and on `request_stop`; "best", the state of
        the epoch where the monitored metric last improved, along with the next "last" (the
        two may be one object). After `request_stop` the current step finishes, "last" is
        saved, `interrupted` is set and fit returns.
        """
        val = self.check_fit(train, val, epochs=epochs, early_stopping=early_stopping)
        check_number(
            "Trainer.fit", "checkpoint_every_epochs", checkpoint_every_epochs, low=1, integer=True
        )
        if checkpoint_every_steps is not None:
            check_number(
                "Trainer.fit", "checkpoint_every_steps", checkpoint_every_steps, low=1, integer=True
            )
        monitor = early_stopping.monitor if early_stopping else self.default_monitor(val)
        p, save = self.progress, save or (lambda states: None)
        self.interrupted = False
        with np.errstate(all="ignore"), self._bar(epochs) as bar:  # non-finite: checked below
            while p.epoch < epochs and not p.stopped and not self.interrupted:
                self._train_epoch(train, save, checkpoint_every_steps)
                if self.interrupted:
                    break
                row, improved = self._end_epoch(val, monitor, early_stopping)
                if on_epoch_end is not None:
                    on_epoch_end(row)
                finished = p.epoch == epochs or p.stopped
                due = finished or self._stop_requested or p.epoch % checkpoint_every_epochs == 0
                self._checkpoint(save, last=due, best=improved)
                self.interrupted = self._stop_requested and not finished
                bar.update(1)
                bar.set_postfix(self._postfix(row), refresh=False)
        if self.interrupted:
            self._stop_requested = False  # the request is served: a new fit runs again
        elif early_stopping is not None and self.best_weights is not None:
            self.optimizer.values[...] = self.best_weights["values"]
            for name, array in self.buffers.items():
                array[...] = self.best_weights["buffers"][name]
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
        check_number("Trainer.fit", "epochs", epochs, low=0, integer=True)
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
            "best_weights": None if self.best_weights is None else _copy(self.best_weights),
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
        self.best_weights = None if best is None else _copy(best)

    # ---- the loop -------------------------------------------------------------------------

    def _train_epoch(
        self, train: Pair, save: Callable[[dict[str, State]], None], every: int | None
    ) -> None:
        X, y = train
        p = self.progress
        if p.perm is None:
            p.perm = epoch_order(len(X), self.rng)
        self._epoch_start = time.perf_counter() - p.seconds
        self.model.train()
        x_buf, y_buf, pred, hits = self._batch_buffers(X, y)
        self._classify = y.dtype.kind in "iu"
        if self.want_diagnostics and self.diagnostics is None:
            self.diagnostics = Diagnostics(self.model, X[:DIAGNOSTICS_PROBE])
        for idx in batch_slices(p.perm, self.batch_size, start=p.step):
            n = len(idx)
            xb = np.take(X, idx, axis=0, out=x_buf[:n], mode="clip")  # idx valid: no bounds pass
            yb = np.take(y, idx, out=y_buf[:n], mode="clip")
            scores = self.model.forward(xb)
            loss = self.loss.forward(scores, yb)
            if self._classify:
                p.correct += _count_correct(scores, yb, pred[:n], hits[:n])
            dscores, _ = self.loss.backward()
            self.model.backward(dscores)
            self._check_finite(loss)
            if self.diagnostics is not None:
                self.diagnostics.before_step()
            self.optimizer.step()
            if self.diagnostics is not None:
                self.diagnostics.after_step()
            p.loss_sum += loss * n
            p.seen += n
            p.step += 1
            p.global_step += 1
            if self._stop_requested or (every and p.global_step % every == 0):
                self._check_weights()
                self._checkpoint(save, last=True, best=False)
            if self._stop_requested:
                self.interrupted = True
                return

    def _checkpoint(
        self, save: Callable[[dict[str, State]], None], *, last: bool, best: bool
    ) -> None:
        """Save "last" when due, with the best state since the previous save; a best epoch
        between two saves waits in memory, so `checkpoint_every_epochs` bounds all writes."""
        if best:
            self._pending_best = None
        if not last:
            if best:
                self._pending_best = self.state_dict()
            return
        current = self.state_dict()
        states = {"last": current}
        if best or self._pending_best is not None:
            states["best"] = current if best else self._pending_best
        self._pending_best = None
        save(states)

    def _batch_buffers(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """x, y, predicted-class and hit buffers of one batch, reused every step."""
        bs = min(self.batch_size, len(X))
        shapes = ((bs, *X.shape[1:]), X.dtype), ((bs, *y.shape[1:]), y.dtype)
        if [(b.shape, b.dtype) for b in self._buffers[:2]] != list(shapes):
            self._buffers = (
                empty_aligned(*shapes[0]),  # the first layer's GEMMs read it: 64-byte aligned
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
            finite = _all_finite(grads)
        if finite and math.isfinite(loss):
            return
        p = self.progress
        where, param = self._locate_non_finite(finite)
        step = p.global_step + 1
        raise NonFiniteError(
            f"non-finite value at step {step} (epoch {p.epoch + 1}, batch {p.step + 1}): "
            f"loss = {loss}, {where}; stopped before the update, the last checkpoint is kept; "
            f"{HINT}",
            step=step,
            param=param,
        )

    def _check_weights(self) -> None:
        """Refuse to record weights that an update made non-finite (keeps the last good save)."""
        if _all_finite(self.optimizer.values):
            return
        p = self.progress
        param = _first_non_finite({n: q.value for n, q in self.params.items()})
        raise NonFiniteError(
            f"the update of step {p.global_step} (epoch {p.epoch + 1}) made the weights "
            f"non-finite, first {param}; the last checkpoint is kept; {HINT}",
            step=p.global_step,
            param=param,
        )

    def _locate_non_finite(self, grads_finite: bool) -> tuple[str, str | None]:
        """Where a failed check came from: (description, parameter name or None)."""
        params = self.params.items()
        if not grads_finite:
            bad = _first_non_finite({n: q.grad for n, q in params})
            return f"first non-finite gradient: {bad}", bad
        bad = _first_non_finite({n: q.value for n, q in params})
        if bad is not None:
            return f"the weights are already non-finite, first {bad}", bad
        graph = self.model.graph
        bad = _first_non_finite({n: graph.value(n) for n in self.model.layers})
        if bad is not None:
            return f"first non-finite output: layer {bad} (every gradient finite)", None
        top = float(np.max(np.abs(graph.value(graph.output_name))))
        return f"every gradient finite, scores finite but as large as {top:.3g}", None

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
        if self.diagnostics is not None:
            row.update(self.diagnostics.end_epoch())
        row["seconds"] = time.perf_counter() - self._epoch_start
        improved = self._track_best(row[monitor], MONITORS[monitor], early_stopping)
        if self.schedule is not None:
            self.schedule.step(row[monitor])
        p.history.append(row)
        p.epoch += 1
        p.step, p.perm, p.loss_sum, p.correct, p.seen, p.seconds = 0, None, 0.0, 0, 0, 0.0
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
                self.best_weights = _copy(
                    {"values": self.optimizer.values, "buffers": self.buffers}
                )
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


def model_buffers(model: Model) -> dict[str, np.ndarray]:
    """Layer state that is saved but not trained (BatchNorm's running statistics), by dotted
    name like the params: {"batch_norm0.running_mean": array}."""
    return {
        f"{name}.{key}": array
        for name, layer in model.layers.items()
        for key, array in getattr(layer, "buffers", {}).items()
    }


def load_weights(model: Model, state: State, *, source: str) -> None:
    """Copy a state's params and buffers into `model`, in place, after checking that every
    name, shape and dtype matches (CheckpointError lists each difference)."""
    targets = {name: p.value for name, p in model.params().items()} | model_buffers(model)
    load_arrays({**state["params"], **state["buffers"]}, targets, source=source)


def _copy(tree: Any) -> Any:
    """A deep copy of nested dicts of arrays."""
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    return np.array(tree, copy=True)


def _first_non_finite(arrays: dict[str, Any]) -> str | None:
    """Name of the first array (or number) holding a NaN or Inf, in the given (forward) order."""
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            return name
    return None


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


def _all_finite(array: np.ndarray) -> bool:
    """No NaN or Inf in `array`. One sum answers for the usual case: a NaN or Inf makes it
    non-finite; only when it is non-finite is each element looked at, since finite float32
    values above about 1e38 can overflow the sum without being non-finite themselves."""
    return math.isfinite(np.add.reduce(array)) or bool(np.isfinite(array).all())
