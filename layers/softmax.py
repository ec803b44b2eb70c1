"""Softmax: class probabilities from scores, over the last axis."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Multiply, Subtract, as_float
from gategraph.layers.shape import BroadcastLike, Sum


@LAYERS.register("softmax")
class Softmax(Layer):
    """out_ij = exp(x_ij) / Σ_k exp(x_ik), over the last axis.  x: (..., C), out: same shape.

    An output layer for probabilities at prediction time: train on raw scores with the
    `softmax_cross_entropy` loss, which fuses this softmax. The scores are shifted by their
    row max first, so no exponent is positive: softmax([1000, 0, -1000]) = [1, 0, 0] exactly.
    Backward: dx = out * (dout - Σ_k dout_k out_k), the sum over the last axis.
    """

    _out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        if x.ndim == 0 or x.shape[-1] == 0:
            raise ValueError(f"Softmax needs x (..., C) with C >= 1 classes, got x {x.shape}")
        out = self._buffer("out", x.shape, x.dtype)
        np.subtract(x, x.max(axis=-1, keepdims=True), out=out)  # stability shift
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        self._out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._cached(self._out)
        dx = np.multiply(dout, out, out=self._buffer("dx", out.shape, out.dtype))
        np.subtract(dout, dx.sum(axis=-1, keepdims=True), out=dx)
        return np.multiply(dx, out, out=dx)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return _jacobian_times(g, out, dout)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return _jacobian_times(g, out, tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((4, 5))


def _jacobian_times(g: Builder, out: str, v: str) -> str:
    """out * (v - Σ_k v_k out_k), the Jacobian (symmetric) times v, as nodes."""
    dot = g.add(Sum(axis=-1), g.add(Multiply(), v, out))
    return g.add(Multiply(), g.add(Subtract(), v, g.add(BroadcastLike(axis=-1), dot, out)), out)
