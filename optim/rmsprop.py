"""RMSProp, plain or centered, with optional momentum, as torch.optim.RMSprop."""

import numpy as np

from gategraph.core.checks import check_flag, check_number
from gategraph.optim.base import OPTIMIZERS, Chunk, Optimizer, Params


@OPTIMIZERS.register("rmsprop")
class RMSProp(Optimizer):
    """g = grad + weight_decay * w (decayed params);  v = α v + (1 - α) g²;
    centered: a = α a + (1 - α) g, v~ = v - a², else v~ = v;  u = g / (√v~ + eps);
    momentum μ > 0: b = μ b + u, w -= lr * b;  else w -= lr * u.  v, a, b start at zero.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        check_number("RMSProp", "alpha", alpha, low=0.0, high=1.0, high_open=True)
        check_number("RMSProp", "eps", eps, low=0.0, low_open=True)
        check_number("RMSProp", "momentum", momentum, low=0.0, high=1.0, high_open=True)
        check_flag("RMSProp", "centered", centered)
        self.alpha, self.eps, self.momentum = float(alpha), float(eps), float(momentum)
        self.centered = bool(centered)
        self.state["square_avg"] = self._new_state()
        if self.centered:
            self.state["grad_avg"] = self._new_state()
        if self.momentum:
            self.state["momentum_buffer"] = self._new_state()

    def _update(self, chunk: Chunk) -> None:
        s = self._normalized(chunk)
        if self.momentum:
            b = chunk.state["momentum_buffer"]
            b *= self.momentum
            b += s
            np.multiply(b, self.lr, out=s)
        else:
            s *= self.lr
        chunk.values -= s

    def _normalized(self, chunk: Chunk) -> np.ndarray:
        """g / (√v~ + eps), written into the chunk's scratch after updating the averages."""
        a, grads, s, v = self.alpha, chunk.grads, chunk.scratch, chunk.state["square_avg"]
        v *= a
        np.multiply(grads, grads, out=s)
        s *= 1.0 - a
        v += s
        if self.centered:
            mean = chunk.state["grad_avg"]
            mean *= a
            np.multiply(grads, 1.0 - a, out=s)
            mean += s
            np.multiply(mean, mean, out=s)
            np.subtract(v, s, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(v, out=s)
        s += self.eps
        return np.divide(grads, s, out=s)
