"""ReLU: the rectified linear unit."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Layer


@LAYERS.register("relu")
class ReLU(Layer):
    """out = max(0, x), elementwise.  x: any shape, out: same shape.

    Backward: dx = dout where x > 0, else 0 (the kink at 0 gets gradient 0).
    """

    _mask: np.ndarray | None = None  # x > 0 at the last forward, as 1.0 / 0.0 in x's dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        # A float mask: backward's dout * mask is then one same-dtype multiply, 1.5-2x faster
        # than multiplying by a bool mask (which casts inside the loop); same values, bit for bit.
        kind = x.dtype if x.dtype.kind == "f" else np.dtype(bool)
        self._mask = np.greater(x, 0, out=self._buffer("mask", x.shape, kind))
        return np.multiply(x, self._mask, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        mask = self._cached(self._mask)
        return np.multiply(dout, mask, out=self._buffer("dx", dout.shape, dout.dtype))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        magnitude = rng.uniform(0.1, 1.0, (4, 5))  # keep off the kink at 0
        return cls(), magnitude * rng.choice([-1.0, 1.0], (4, 5))
