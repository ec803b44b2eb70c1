"""SGD with momentum and Nesterov momentum, as torch.optim.SGD."""

import numpy as np

from gategraph.core.checks import check_flag, check_number
from gategraph.optim.base import OPTIMIZERS, Chunk, Optimizer, Params


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    """g = grad + weight_decay * w (decayed params);  v = momentum * v + g;
    w -= lr * (g + momentum * v if nesterov else v).  With momentum 0: w -= lr * g.
    The velocity v starts at zero, which equals torch's first step v = g. Each term is one
    in-place NumPy pass over a chunk of the flat buffers; the decay goes into `grads`.

    (SciPy's BLAS axpy would fuse a pass or two, but SciPy ships a second OpenBLAS whose
    threads fight NumPy's: measured 10-80x slower steps on 2 cores, so NumPy alone it is.)
    """

    def __init__(
        self,
        params: Params,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        check_number("SGD", "momentum", momentum, low=0.0, high=1.0, high_open=True)
        check_flag("SGD", "nesterov", nesterov)
        if nesterov and momentum == 0:
            raise ValueError("SGD needs momentum > 0 for nesterov, got momentum 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        if self.momentum:
            self.state["velocity"] = self._new_state()

    def _update(self, chunk: Chunk) -> None:
        grads, step = chunk.grads, chunk.scratch
        if not self.momentum:
            np.multiply(grads, self.lr, out=step)
        else:
            v = chunk.state["velocity"]
            v *= self.momentum
            v += grads
            if self.nesterov:
                np.multiply(v, self.momentum, out=step)
                step += grads
                step *= self.lr
            else:
                np.multiply(v, self.lr, out=step)
        chunk.values -= step
