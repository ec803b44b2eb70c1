"""Hand-written NumPy MLP training step and the GEMM-only ceiling: the benchmark's references.

Both mirror one gategraph training step: forward through Affine/ReLU layers, mean softmax
cross-entropy, backward, SGD with momentum (torch convention) and weight decay on weights.
The reference is written the way a careful person writes NumPy by hand: explicit
`np.matmul(..., out=)` into preallocated buffers, in-place bias, ReLU, softmax and updates, a
Python loop over layers and over parameters.
"""

import numpy as np


class ReferenceMLP:
    """A careful hand-written NumPy MLP step over preallocated buffers."""

    def __init__(
        self,
        weights: list[tuple[np.ndarray, np.ndarray]],
        batch: int,
        *,
        lr: float,
        momentum: float,
        weight_decay: float,
    ) -> None:
        self.W = [w.copy() for w, _ in weights]
        self.b = [b.copy() for _, b in weights]
        dtype = self.W[0].dtype
        self.h = [np.empty((batch, w.shape[1]), dtype) for w in self.W]
        self.dh = [np.empty_like(h) for h in self.h[:-1]]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(b) for b in self.b]
        self.tW = [np.empty_like(w) for w in self.W]
        self.tb = [np.empty_like(b) for b in self.b]
        self.rows = np.arange(batch)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        last = len(self.W) - 1
        a = x
        for i, (W, b, h) in enumerate(zip(self.W, self.b, self.h, strict=True)):
            np.matmul(a, W, out=h)
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
            a = h
        s = self.h[last]
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        loss = -float(np.log(s[self.rows, y]).mean())
        s[self.rows, y] -= 1
        s /= len(y)
        d = s
        for i in range(last, -1, -1):
            a = x if i == 0 else self.h[i - 1]
            np.matmul(a.T, d, out=self.dW[i])
            np.sum(d, axis=0, out=self.db[i])
            if i > 0:
                np.matmul(d, self.W[i].T, out=self.dh[i - 1])
                self.dh[i - 1] *= self.h[i - 1] > 0
                d = self.dh[i - 1]
        self._update()
        return loss

    def _update(self) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        for p, g, v, t, decay in [
            *zip(self.W, self.dW, self.vW, self.tW, [True] * len(self.W), strict=True),
            *zip(self.b, self.db, self.vb, self.tb, [False] * len(self.b), strict=True),
        ]:
            if decay:
                np.multiply(p, wd, out=t)
                g += t
            v *= mu
            v += g
            np.multiply(v, lr, out=t)
            p -= t

    def params(self) -> list[np.ndarray]:
        return [p for pair in zip(self.W, self.b, strict=True) for p in pair]


class GemmCeiling:
    """Only the matrix products one training step needs (no dx for the data): an upper bound."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]], batch: int) -> None:
        self.W = [w.copy() for w, _ in weights]
        dtype = self.W[0].dtype
        self.h = [np.empty((batch, w.shape[1]), dtype) for w in self.W]
        self.dh = [np.empty_like(h) for h in self.h[:-1]]
        self.dW = [np.empty_like(w) for w in self.W]

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        a = x
        for W, h in zip(self.W, self.h, strict=True):
            np.matmul(a, W, out=h)
            a = h
        d = self.h[-1]
        for i in range(len(self.W) - 1, -1, -1):
            np.matmul(x.T if i == 0 else self.h[i - 1].T, d, out=self.dW[i])
            if i > 0:
                np.matmul(d, self.W[i].T, out=self.dh[i - 1])
                d = self.dh[i - 1]
        return 0.0
