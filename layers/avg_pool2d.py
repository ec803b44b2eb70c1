"""AvgPool2D: the mean of each pooling window."""

import math

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.im2col import as_tuple, at_offset, offsets, output_size


@LAYERS.register("avg_pool2d")
class AvgPool2D(Layer):
    """out[n, c, i, j] = (1 / (ph·pw)) Σ_{p, q} x[n, c, i·sh + p, j·sw + q].
    x: (N, C, H, W), out: (N, C, H', W') with H' = (H - ph) // sh + 1 (likewise W').

    `pool_size` and `stride` are an int or an (h, w) pair; `stride` defaults to `pool_size`.
    Backward: every element of a window gets dout / (ph·pw), added up where windows overlap.
    """

    _x_shape: tuple[int, ...] | None = None  # shape of the last input

    def __init__(
        self, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.pool = as_tuple(pool_size, 2, "AvgPool2D", "pool_size", 1)
        self.stride = self.pool if stride is None else as_tuple(stride, 2, "AvgPool2D", "stride", 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out_size = output_size("AvgPool2D", x.shape, self.pool, self.stride, (0, 0))
        out = self._buffer("out", (*x.shape[:2], *out_size), x.dtype)
        for k, offset in enumerate(offsets(self.pool)):
            view = at_offset(x, offset, self.stride, out_size)
            if k == 0:
                np.copyto(out, view)
            else:
                out += view
        out *= 1.0 / math.prod(self.pool)
        self._x_shape = x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape = self._cached(self._x_shape)
        dx = self._buffer("dx", x_shape, dout.dtype)
        share = self._buffer("share", dout.shape, dout.dtype)
        np.multiply(dout, 1.0 / math.prod(self.pool), out=share)
        dx.fill(0)
        for offset in offsets(self.pool):
            view = at_offset(dx, offset, self.stride, dout.shape[2:])
            view += share  # overlapping windows (stride < pool) add up
        return dx

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(AvgUnpool2D(self), dout, inputs[0])

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(AvgPool2D(self.pool, self.stride), tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls((2, 3), stride=(1, 2)), rng.standard_normal((2, 2, 5, 4))


@LAYERS.register("avg_unpool2d")
class AvgUnpool2D(Layer):
    """out = the adjoint of an AvgPool2D (its backward as a gate): every element of a window
    gets x[n, c, i, j] / (ph·pw), added up where windows overlap.  x: the pool's output shape,
    like: its input (read for the shape), out: like's shape.  Backward: dx = AvgPool2D(dout).
    """

    n_inputs = 2
    shape_inputs = (1,)
    _like_shape: tuple[int, ...] | None = None

    def __init__(self, pool: AvgPool2D) -> None:
        super().__init__()
        self.pool = AvgPool2D(pool.pool, pool.stride)

    def forward(self, x: np.ndarray, like: np.ndarray) -> np.ndarray:
        self.pool.forward(like)  # sizes the pool for `like` (and checks x's shape below)
        self._like_shape = np.shape(like)
        out = self.pool.backward(x)
        self.pool.clear_cache()
        return out.copy()

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        like_shape = self._cached(self._like_shape)
        pooled = self.pool.forward(dout).copy()
        self.pool.clear_cache()
        return pooled, np.zeros(like_shape)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(AvgPool2D(self.pool.pool, self.pool.stride), dout), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        t = tangents[0]
        return None if t is None else g.add(AvgUnpool2D(self.pool), t, inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        pool, x = AvgPool2D.example(rng)
        return cls(pool), (rng.standard_normal(pool.forward(x).shape), x)
