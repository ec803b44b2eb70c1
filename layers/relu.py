"""ReLU: the rectified linear unit."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Multiply, Step


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, g.add(Step(), inputs[0]))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], g.add(Step(), inputs[0]))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        magnitude = rng.uniform(0.1, 1.0, (4, 5))  # keep off the kink at 0
        return cls(), magnitude * rng.choice([-1.0, 1.0], (4, 5))
