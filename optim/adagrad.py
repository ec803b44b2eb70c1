"""Adagrad, as torch.optim.Adagrad."""

import numpy as np

from gategraph.core.checks import check_number
from gategraph.optim.base import OPTIMIZERS, Chunk, Optimizer, Params


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """g = grad + weight_decay * w (decayed params);  t = steps (1 at the first step);
    lr_t = lr / (1 + (t - 1) * lr_decay);  sum += g²;  w -= lr_t * g / (√sum + eps).
    `sum` starts at `initial_accumulator_value`.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        check_number("Adagrad", "lr_decay", lr_decay, low=0.0)
        check_number("Adagrad", "initial_accumulator_value", initial_accumulator_value, low=0.0)
        check_number("Adagrad", "eps", eps, low=0.0, low_open=True)
        self.lr_decay, self.eps = float(lr_decay), float(eps)
        self.state["sum"] = self._new_state(initial_accumulator_value)

    def _update(self, chunk: Chunk) -> None:
        grads, total, s = chunk.grads, chunk.state["sum"], chunk.scratch
        np.multiply(grads, grads, out=s)
        total += s
        np.sqrt(total, out=s)
        s += self.eps
        np.divide(grads, s, out=s)
        s *= self.lr / (1.0 + (self.steps - 1) * self.lr_decay)
        chunk.values -= s
