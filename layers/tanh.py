"""Tanh: the hyperbolic tangent."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Multiply, Negate, Shift, as_float


@LAYERS.register("tanh")
class Tanh(Layer):
    """out = tanh(x), elementwise.  x: any shape, out: same shape.

    np.tanh saturates to ±1 without overflow (tanh(±1000) = ±1 exactly).
    Backward: dx = dout * (1 - out²).
    """

    _out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._out = np.tanh(x, out=self._buffer("out", x.shape, x.dtype))
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._cached(self._out)
        dx = np.square(out, out=self._buffer("dx", out.shape, out.dtype))
        np.subtract(1, dx, out=dx)
        return np.multiply(dx, dout, out=dx)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, _slope(g, out))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], _slope(g, out))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((4, 5))


def _slope(g: Builder, out: str) -> str:
    """tanh' = 1 - tanh², as nodes."""
    return g.add(Shift(1.0), g.add(Negate(), g.add(Multiply(), out, out)))
