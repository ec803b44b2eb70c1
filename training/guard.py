"""The non-finite guard: no update from a NaN or Inf, no checkpoint of non-finite weights."""

import math
from typing import Any

import numpy as np

from gategraph.optim.clip import clip_grad_norm
from gategraph.training.callback import Callback, Loop, Row

HINT = "lower the learning rate (optim.lr) or clip gradients (train.clip_norm)"


class NonFiniteError(FloatingPointError):
    """Training met a NaN or Inf before applying an update; nothing was changed by that step."""

    def __init__(self, message: str, *, step: int, param: str | None) -> None:
        super().__init__(message)
        self.step, self.param = step, param


class NonFiniteGuard(Callback):
    """Before each update: stop when the loss or a gradient is NaN or Inf, naming where it
    first appears; with `clip_norm`, scale the gradients to that global norm (the norm's one
    pass doubles as the check). At each epoch's end: stop when an update made the weights
    non-finite. Every Trainer runs one first (`clip_norm` is the Trainer's)."""

    order = 0

    def __init__(self, clip_norm: float | None = None) -> None:
        self.clip_norm = clip_norm

    def on_before_step(self, trainer: Loop, loss: float) -> None:
        grads = trainer.optimizer.grads
        if self.clip_norm is not None:
            finite = math.isfinite(clip_grad_norm(grads, self.clip_norm))  # clips only if finite
        else:
            finite = all_finite(grads)
        if finite and math.isfinite(loss):
            return
        p = trainer.progress
        where, param = _locate(trainer, finite)
        step = p.global_step + 1
        raise NonFiniteError(
            f"non-finite value at step {step} (epoch {p.epoch + 1}, batch {p.step + 1}): "
            f"loss = {loss}, {where}; stopped before the update, the last checkpoint is kept; "
            f"{HINT}",
            step=step,
            param=param,
        )

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        check_weights(trainer)


def check_weights(trainer: Loop) -> None:
    """Refuse weights that an update made non-finite (call before recording them)."""
    if all_finite(trainer.optimizer.values):
        return
    p = trainer.progress
    param = first_non_finite({n: q.value for n, q in trainer.params.items()})
    raise NonFiniteError(
        f"the update of step {p.global_step} (epoch {p.epoch + 1}) made the weights "
        f"non-finite, first {param}; the last checkpoint is kept; {HINT}",
        step=p.global_step,
        param=param,
    )


def _locate(trainer: Loop, grads_finite: bool) -> tuple[str, str | None]:
    """Where a failed check came from: (description, parameter name or None)."""
    params = trainer.params.items()
    if not grads_finite:
        bad = first_non_finite({n: q.grad for n, q in params})
        return f"first non-finite gradient: {bad}", bad
    bad = first_non_finite({n: q.value for n, q in params})
    if bad is not None:
        return f"the weights are already non-finite, first {bad}", bad
    graph = trainer.model.graph
    bad = first_non_finite({n: graph.value(n) for n in trainer.model.layers})
    if bad is not None:
        return f"first non-finite output: layer {bad} (every gradient finite)", None
    top = float(np.max(np.abs(graph.value(graph.output_name))))
    return f"every gradient finite, scores finite but as large as {top:.3g}", None


def first_non_finite(arrays: dict[str, Any]) -> str | None:
    """Name of the first array (or number) holding a NaN or Inf, in the given (forward) order."""
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            return name
    return None


def all_finite(array: np.ndarray) -> bool:
    """No NaN or Inf in `array`. One sum answers for the usual case: a NaN or Inf makes it
    non-finite; only when it is non-finite is each element looked at, since finite float32
    values above about 1e38 can overflow the sum without being non-finite themselves."""
    return math.isfinite(np.add.reduce(array)) or bool(np.isfinite(array).all())
