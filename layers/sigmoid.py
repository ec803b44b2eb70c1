"""Sigmoid: the logistic function, computed without overflow."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Multiply, Negate, Shift, as_float


@LAYERS.register("sigmoid")
class Sigmoid(Layer):
    """out = σ(x) = 1 / (1 + exp(-x)), elementwise.  x: any shape, out: same shape.

    Computed as 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|) <= 1:
    no exponent is ever positive, so σ(1000) = 1 and σ(-1000) = exp(-1000) come out exactly,
    without overflow. Backward: dx = dout * out * (1 - out).
    """

    _out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        e = np.abs(x, out=self._buffer("e", x.shape, x.dtype))
        np.negative(e, out=e)
        np.exp(e, out=e)
        out = np.add(e, 1, out=self._buffer("out", x.shape, x.dtype))
        np.reciprocal(out, out=out)
        np.multiply(out, e, out=out, where=x < 0)  # e / (1 + e) = e * (1 / (1 + e))
        self._out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._cached(self._out)
        dx = np.subtract(1, out, out=self._buffer("dx", out.shape, out.dtype))
        dx *= out
        return np.multiply(dx, dout, out=dx)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, _slope(g, out))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], _slope(g, out))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((4, 5))


def _slope(g: Builder, out: str) -> str:
    """σ' = (1 - σ) σ, as nodes."""
    return g.add(Multiply(), g.add(Shift(1.0), g.add(Negate(), out)), out)
