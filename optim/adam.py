"""Adam with L2 weight decay added to the gradient, as torch.optim.Adam."""

import math
from collections.abc import Sequence

import numpy as np

from gategraph.core.checks import check_number
from gategraph.optim.base import OPTIMIZERS, Chunk, Optimizer, Params


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """g = grad + weight_decay * w (decayed params);  t = steps (1 at the first step);
    m = β1 m + (1 - β1) g;  v = β2 v + (1 - β2) g²;  m̂ = m / (1 - β1^t);  v̂ = v / (1 - β2^t);
    w -= lr * m̂ / (√v̂ + eps).  m, v start at zero; eps is added after the square root.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        name = type(self).__name__
        if not isinstance(betas, list | tuple) or len(betas) != 2:
            raise TypeError(f"{name} needs betas as a list of two numbers, got {betas!r}")
        for i, beta in enumerate(betas):
            check_number(name, f"betas[{i}]", beta, low=0.0, high=1.0, high_open=True)
        check_number(name, "eps", eps, low=0.0, low_open=True)
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)
        self.state["exp_avg"] = self._new_state()
        self.state["exp_avg_sq"] = self._new_state()

    def _update(self, chunk: Chunk) -> None:
        (b1, b2), grads, s = self.betas, chunk.grads, chunk.scratch
        m, v = chunk.state["exp_avg"], chunk.state["exp_avg_sq"]
        m *= b1
        np.multiply(grads, 1.0 - b1, out=s)
        m += s
        v *= b2
        np.multiply(grads, grads, out=s)
        s *= 1.0 - b2
        v += s
        # m̂ / (√v̂ + eps) = m √c2 / (c1 (√v + eps √c2)), c = 1 - β^t: one pass fewer than m̂, v̂
        root = math.sqrt(1.0 - b2**self.steps)
        np.sqrt(v, out=s)
        s += self.eps * root
        np.divide(m, s, out=s)
        s *= self.lr * root / (1.0 - b1**self.steps)
        chunk.values -= s
