"""ReLU: the rectified linear unit."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Layer


@LAYERS.register("relu")
class ReLU(Layer):
    """out = max(0, x), elementwise.  x: any shape, out: same shape.

    Backward: dx = dout * (x > 0) (the kink at 0 gets gradient 0).
    """

    _mask: np.ndarray | None = None  # x > 0 at the last forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.maximum(0, x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self._cached(self._mask)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        magnitude = rng.uniform(0.1, 1.0, (4, 5))  # keep off the kink at 0
        return cls(), magnitude * rng.choice([-1.0, 1.0], (4, 5))
