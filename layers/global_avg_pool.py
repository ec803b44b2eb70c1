"""GlobalAvgPool: the mean of each channel over all its spatial positions."""

import math

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Divide, Multiply
from gategraph.layers.shape import Count


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        positions = g.add(Divide(), g.add(Count(), inputs[0]), g.add(Count(), out))
        return g.add(Divide(), g.add(SpreadLike(), dout, inputs[0]), positions)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(GlobalAvgPool(), tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((2, 3, 4, 5))


@LAYERS.register("spread_like")
class SpreadLike(Layer):
    """out[n, c, s] = x[n, c] for every position s: x (N, C) spread over like's trailing
    (spatial) axes.  like: (N, C, ...) read for its shape, out: like's shape (a view).

    The adjoint of a sum over the spatial axes.  Backward: dx = Σ_s dout[n, c, s], dlike = 0.
    """

    n_inputs = 2
    shape_inputs = (1,)
    _shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # x.shape, like.shape

    def forward(self, x: np.ndarray, like: np.ndarray) -> np.ndarray:
        x, like = np.asarray(x), np.asarray(like)
        if like.shape[: x.ndim] != x.shape:
            raise ValueError(f"SpreadLike cannot spread x {x.shape} over {like.shape}")
        self._shapes = x.shape, like.shape
        return np.broadcast_to(x.reshape(x.shape + (1,) * (like.ndim - x.ndim)), like.shape)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_shape, like_shape = self._cached(self._shapes)
        return np.sum(dout, axis=tuple(range(len(x_shape), len(like_shape)))), np.zeros(like_shape)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        positions = g.add(Divide(), g.add(Count(), dout), g.add(Count(), inputs[0]))
        return g.add(Multiply(), g.add(GlobalAvgPool(), dout), positions), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        t = tangents[0]
        return None if t is None else g.add(SpreadLike(), t, inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((2, 3)), rng.standard_normal((2, 3, 4, 5)))
