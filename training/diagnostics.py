"""Training diagnostics, per epoch: update-to-weight ratios and dead-ReLU fractions.

    trainer.fit(X, y, epochs=20, callbacks=[Diagnostics(X[:PROBE_SIZE])])
    # each epoch's row gets update_ratio.<param>, dead_relu.<node> and "warnings" (lines)

The update-to-weight ratio of a param is ||W_after - W_before|| / ||W_before|| over one
optimizer step (the whole update: lr, momentum, weight decay), averaged over the epoch's
steps; CS231n's rule of thumb puts it around 1e-3 for weights: much lower, the learning rate
is likely too low; much higher, too high. A ReLU unit is dead on a batch when it outputs 0 for
every sample of it: it passes no gradient, so nothing revives it.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from gategraph.core.params import Param
from gategraph.models.sequential import Model
from gategraph.training.callback import Callback, Loop, Row

RATIO_LOW, RATIO_HIGH = 1e-5, 1e-1  # a weight's mean ratio outside warns: 100x off the 1e-3
DEAD_RELU_WARN = 0.25  # a ReLU node with more than this fraction of dead units warns
PROBE_SIZE = 256  # training samples of the fixed batch that finds dead ReLUs


class UpdateRatios:
    """Per param, the mean over steps of ||W_after - W_before|| / ||W_before||.

    Call `before_step()` right before `optimizer.step()` and `after_step()` right after;
    `means()` returns {param name: mean ratio, None when ||W_before|| was 0 at every step
    (a bias at its zero start)} since the last `means()`.
    """

    def __init__(self, params: Mapping[str, Param]) -> None:
        self.params = dict(params)
        self._before = {name: np.empty_like(p.value) for name, p in self.params.items()}
        self._sums = dict.fromkeys(self.params, 0.0)
        self._counts = dict.fromkeys(self.params, 0)

    def before_step(self) -> None:
        for name, p in self.params.items():
            np.copyto(self._before[name], p.value)

    def after_step(self) -> None:
        for name, p in self.params.items():
            before = self._before[name]
            scale = _norm(before)
            if scale > 0:
                self._sums[name] += _norm(np.subtract(p.value, before, out=before)) / scale
                self._counts[name] += 1

    def means(self) -> dict[str, float | None]:
        means = {n: self._sums[n] / c if (c := self._counts[n]) else None for n in self.params}
        self._sums = dict.fromkeys(self.params, 0.0)
        self._counts = dict.fromkeys(self.params, 0)
        return means


def _norm(x: np.ndarray) -> float:
    flat = x.reshape(-1)
    return float(np.sqrt(np.dot(flat, flat)))


def dead_relu_fractions(model: Model, x: np.ndarray) -> dict[str, float]:
    """{ReLU node: fraction of its units (output positions) that are 0 for every sample of
    x}, from one forward in eval mode that keeps no caches."""
    relus = [name for name, layer in model.layers.items() if layer.key == "relu"]
    if not relus:
        return {}
    model.predict(x)
    fractions = {}
    for name in relus:
        out = np.asarray(model.graph.value(name))
        alive = np.any(out.reshape(len(out), -1) != 0, axis=0)
        fractions[name] = float(1.0 - alive.mean())
    return fractions


def warnings_for(
    ratios: Mapping[str, float | None], dead: Mapping[str, float], params: Mapping[str, Param]
) -> list[str]:
    """One line per weight (a param with decay=True) whose ratio is outside [RATIO_LOW,
    RATIO_HIGH] and per ReLU node with more than DEAD_RELU_WARN of its units dead."""
    lines = []
    for name, ratio in ratios.items():
        if ratio is None or not params[name].decay or RATIO_LOW <= ratio <= RATIO_HIGH:
            continue
        hint = (
            "too low? raise optim.lr (expected while a schedule anneals it to 0)"
            if ratio < RATIO_LOW
            else "too high? lower optim.lr"
        )
        lines.append(
            f"update/weight ratio of {name} is {ratio:.2g}, outside [{RATIO_LOW:g}, "
            f"{RATIO_HIGH:g}] (healthy ~1e-3): learning rate {hint}"
        )
    for name, fraction in dead.items():
        if fraction > DEAD_RELU_WARN:
            lines.append(
                f"{fraction:.0%} of {name}'s units are dead (0 for every sample of the probe "
                f"batch, more than {DEAD_RELU_WARN:.0%}): lower the learning rate or check the init"
            )
    return lines


class Diagnostics(Callback):
    """Adds to each epoch's row `update_ratio.<param>` (mean over the epoch's steps),
    `dead_relu.<node>` (on `probe`, a fixed batch of training inputs, after the epoch) and
    `warnings` (a list of lines; empty when all is well)."""

    order = 10
    ratios: UpdateRatios | None = None  # of the params of the last fit's trainer

    def __init__(self, probe: np.ndarray) -> None:
        if len(probe) == 0:
            raise ValueError("Diagnostics needs a non-empty probe batch, got 0 samples")
        self.probe = probe

    def on_train_begin(self, trainer: Loop) -> None:
        if self.ratios is None or self.ratios.params != trainer.params:
            self.ratios = UpdateRatios(trainer.params)

    def on_before_step(self, trainer: Loop, loss: float) -> None:
        self.ratios.before_step()

    def on_batch_end(self, trainer: Loop) -> None:
        self.ratios.after_step()

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        row.update(self.metrics(trainer.model))

    def metrics(self, model: Model) -> dict[str, Any]:
        """The entries of the epoch's row; restarts the ratios' means."""
        ratios = self.ratios.means()
        dead = dead_relu_fractions(model, self.probe)
        row: dict[str, Any] = {f"update_ratio.{name}": r for name, r in ratios.items()}
        row.update({f"dead_relu.{name}": f for name, f in dead.items()})
        row["warnings"] = warnings_for(ratios, dead, self.ratios.params)
        return row
