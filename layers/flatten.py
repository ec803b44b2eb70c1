"""Flatten: one feature vector per sample."""

import math

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.shape import ReshapeLike


@LAYERS.register("flatten")
class Flatten(Layer):
    """out = x reshaped to (N, D), D = d1 * ... * dk.  x: (N, d1, ..., dk), out: (N, D).

    A view of x when x is contiguous (no copy). Backward: dx = dout reshaped to x's shape.
    """

    _x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 0:
            raise ValueError("Flatten needs x (N, d1, ..., dk) with a batch axis, got a 0-d x")
        self._x_shape = x.shape
        return x.reshape(len(x), math.prod(x.shape[1:]))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.reshape(dout, self._cached(self._x_shape))

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(ReshapeLike(), dout, inputs[0])

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Flatten(), tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((2, 3, 4))
