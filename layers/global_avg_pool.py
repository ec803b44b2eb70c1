"""GlobalAvgPool: the mean of each channel over all its spatial positions."""

import math

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Layer


@LAYERS.register("global_avg_pool")
class GlobalAvgPool(Layer):
    """out[n, c] = (1 / S) Σ_s x[n, c, s] over the S spatial positions.
    x: (N, C, L) or (N, C, H, W) (any (N, C, ...) with at least one spatial axis), out: (N, C).

    Backward: dx[n, c, s] = dout[n, c] / S for every position s.
    """

    _x_shape: tuple[int, ...] | None = None  # shape of the last input

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim < 3:
            raise ValueError(
                f"GlobalAvgPool expects x of shape (N, C, L) or (N, C, H, W), got {x.shape}"
            )
        out = self._buffer("out", x.shape[:2], x.dtype)
        np.mean(x, axis=tuple(range(2, x.ndim)), out=out)
        self._x_shape = x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape = self._cached(self._x_shape)
        dx = self._buffer("dx", x_shape, dout.dtype)
        spread = dout.reshape(*dout.shape, *(1,) * (len(x_shape) - 2))
        np.multiply(spread, 1.0 / math.prod(x_shape[2:]), out=dx)
        return dx

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((2, 3, 4, 5))
