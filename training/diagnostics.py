"""Training diagnostics, per epoch: update-to-weight ratios and dead-ReLU fractions.

    diagnostics = Diagnostics(model, X_train[:256])
    for each step:  diagnostics.before_step(); optimizer.step(); diagnostics.after_step()
    at epoch end:   row.update(diagnostics.end_epoch())   # metrics; warnings under "warnings"

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

RATIO_LOW, RATIO_HIGH = 1e-5, 1e-1  # a weight's mean ratio outside warns: 100x off the 1e-3
DEAD_RELU_WARN = 0.25  # a ReLU node with more than this fraction of dead units warns


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


class Diagnostics:
    """What a Trainer calls when `train.diagnostics` is on: `before_step` / `after_step`
    around each optimizer step, `end_epoch()` once per epoch for the metrics row:
    `update_ratio.<param>` and `dead_relu.<node>` entries, and `warnings` (a list of lines).
    `probe` is a fixed batch of training inputs for the dead-ReLU forward."""

    def __init__(self, model: Model, probe: np.ndarray) -> None:
        if len(probe) == 0:
            raise ValueError("Diagnostics needs a non-empty probe batch, got 0 samples")
        self.model, self.probe = model, probe
        self.params = model.params()
        self.ratios = UpdateRatios(self.params)

    def before_step(self) -> None:
        self.ratios.before_step()

    def after_step(self) -> None:
        self.ratios.after_step()

    def end_epoch(self) -> dict[str, Any]:
        ratios = self.ratios.means()
        dead = dead_relu_fractions(self.model, self.probe)
        row: dict[str, Any] = {f"update_ratio.{name}": r for name, r in ratios.items()}
        row.update({f"dead_relu.{name}": f for name, f in dead.items()})
        row["warnings"] = warnings_for(ratios, dead, self.params)
        return row
