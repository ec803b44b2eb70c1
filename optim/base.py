"""Optimizer and the OPTIMIZERS registry: updates of flat parameter buffers, in place."""

from collections.abc import Iterable
from typing import Any

import numpy as np

from layers.base import Param, flatten_params
from layers.registry import Registry


class Optimizer:
    """Updates `params` in place from their grads. All params are views into one flat value
    buffer and one flat grad buffer (decayed params first), so a step is a few vectorized
    calls. L2 is `weight_decay`: grad + weight_decay * value on params with `decay=True`.

    Subclasses implement `_update(grads)` given the flat gradient with decay already added,
    and list their per-element state arrays in `self.state` and scalars in `_scalars`.
    """

    _scalars: tuple[str, ...] = ("lr", "weight_decay", "steps")

    def __init__(self, params: Iterable[Param], *, lr: float, weight_decay: float = 0.0) -> None:
        name = type(self).__name__
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name} got no params to optimize")
        _check_number(name, "lr", lr, low=0.0)
        _check_number(name, "weight_decay", weight_decay, low=0.0)
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.values, self.grads, self.n_decay = flatten_params(self.params)
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}
        self._scratch = np.empty_like(self.values)

    def step(self) -> None:
        """Apply one update from the current grads (weight decay is added into them)."""
        if self.weight_decay and self.n_decay:
            decayed = self._scratch[: self.n_decay]
            np.multiply(self.values[: self.n_decay], self.weight_decay, out=decayed)
            self.grads[: self.n_decay] += decayed
        self.steps += 1
        self._update(self.grads)

    def _update(self, grads: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define _update")

    def penalty(self) -> float:
        """0.5 * weight_decay * Σ W²  over decayed params: the L2 term of the logged loss."""
        w = self.values[: self.n_decay]
        return 0.5 * self.weight_decay * float(np.dot(w, w))

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {k: getattr(self, k) for k in self._scalars}
        state.update({k: v.copy() for k, v in self.state.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        name = type(self).__name__
        expected = set(self._scalars) | set(self.state)
        if set(state) != expected:
            raise ValueError(
                f"{name}.load_state_dict expects keys {sorted(expected)}, got {sorted(state)}"
            )
        for key, array in self.state.items():
            given = np.asarray(state[key])
            if given.shape != array.shape:
                raise ValueError(
                    f"{name}.load_state_dict: {key} must have shape {array.shape}, "
                    f"got {given.shape}"
                )
            array[...] = given
        for key in self._scalars:
            setattr(self, key, type(getattr(self, key))(state[key]))


def _check_number(who: str, key: str, value: Any, *, low: float, high: float = np.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{who} needs {low} <= {key} <= {high}, got {value!r}")


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
