"""Optimizer and the OPTIMIZERS registry: updates of flat parameter buffers, in place."""

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from gategraph.core.checks import check_number
from gategraph.core.params import Param, empty_aligned, flatten_params
from gategraph.core.registry import Registry

Params = Iterable[Param] | Mapping[str, Param]  # model.params() (the dict) or any iterable


class Optimizer:
    """Updates `params` (`model.params()`, the dict, or any iterable of Params) in place
    from their grads. All params are views into one flat value buffer and one flat grad
    buffer (decayed params first), so a step is a few vectorized calls. L2 is
    `weight_decay`: grad + weight_decay * value on params with `decay=True`.

    Subclasses implement `_update(grads)` given the flat gradient with decay already added,
    and list their per-element state arrays in `self.state` and scalars in `_scalars`.
    `self._scratch`, shaped like the flat buffer, is free for `_update` to overwrite.
    """

    _scalars: tuple[str, ...] = ("lr", "weight_decay", "steps")

    def __init__(self, params: Params, *, lr: float, weight_decay: float = 0.0) -> None:
        name = type(self).__name__
        self.params = list(params.values() if isinstance(params, Mapping) else params)
        if not self.params:
            raise ValueError(f"{name} got no params to optimize")
        for param in self.params:
            if not isinstance(param, Param):
                raise TypeError(
                    f"{name} needs Params (model.params() or its values), got {param!r} "
                    f"({type(param).__name__})"
                )
        check_number(name, "lr", lr, low=0.0)  # lr = 0 is allowed: a sanity check uses it
        check_number(name, "weight_decay", weight_decay, low=0.0)
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.values, self.grads, self.n_decay = flatten_params(self.params)
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}
        self._scratch = empty_aligned(self.values.shape, self.values.dtype)
        n = self.n_decay  # the decayed prefix's views, sliced once rather than every step
        self._decayed = (self.values[:n], self.grads[:n], self._scratch[:n])

    def step(self) -> None:
        """Apply one update from the current grads (L2 weight decay is added into them)."""
        self.steps += 1
        if self.weight_decay and self.n_decay:
            self._decay()
        self._update(self.grads)

    def zero_grad(self) -> None:
        """Accepted for PyTorch habits and does nothing: every backward overwrites the
        gradients (never accumulates), so there is nothing to clear between steps."""

    def _decay(self) -> None:
        """Coupled L2, torch's `weight_decay` of SGD, Adam, RMSprop, Adagrad: on the decayed
        prefix, grad += weight_decay * w."""
        values, grads, scratch = self._decayed
        np.multiply(values, self.weight_decay, out=scratch)
        grads += scratch

    def _new_state(self, fill: float = 0.0) -> np.ndarray:
        """A per-element state array shaped like the flat buffer (64-byte aligned), filled."""
        array = empty_aligned(self.values.shape, self.values.dtype)
        array.fill(fill)
        return array

    def _update(self, grads: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define _update")

    def penalty(self) -> float:
        """0.5 * weight_decay * Σ W²  over decayed params: the L2 term of the logged loss."""
        w = self.values[: self.n_decay]
        return 0.5 * self.weight_decay * float(np.dot(w, w))

    def state_dict(self) -> dict[str, Any]:
        """Scalars (plain numbers) and copies of the state arrays: everything an npz can hold."""
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


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
