"""MaxPool2D: the maximum of each pooling window."""

import math
from typing import ClassVar

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.im2col import as_tuple, at_offset, offsets, output_size


@LAYERS.register("max_pool2d")
class MaxPool2D(Layer):
    """out[n, c, i, j] = max_{p, q} x[n, c, i·sh + p, j·sw + q] over a `pool_size` window.
    x: (N, C, H, W), out: (N, C, H', W') with H' = (H - ph) // sh + 1 (likewise W').

    `pool_size` and `stride` are an int or an (h, w) pair; `stride` defaults to `pool_size`
    (non-overlapping windows). Backward routes dout[n, c, i, j] to the window's argmax, added up
    where windows overlap. Ties: the FIRST maximal element in row-major window order gets the
    whole gradient (as `argmax` in CS231n and PyTorch), a valid subgradient; a NaN propagates
    to the output.
    """

    spatial: ClassVar[int] = 2  # number of spatial axes; MaxPool1D sets 1
    _argmax: np.ndarray | None = None  # (N, C, *out) offset index of each window's maximum
    _x_shape: tuple[int, ...] | None = None  # shape of the last input

    def __init__(
        self, pool_size: int | tuple[int, ...] = 2, stride: int | tuple[int, ...] | None = None
    ) -> None:
        super().__init__()
        who, n = type(self).__name__, self.spatial
        self.pool = as_tuple(pool_size, n, who, "pool_size", 1)
        self.stride = self.pool if stride is None else as_tuple(stride, n, who, "stride", 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        zero = (0,) * self.spatial
        out_size = output_size(type(self).__name__, x.shape, self.pool, self.stride, zero)
        out = self._buffer("out", (*x.shape[:2], *out_size), x.dtype)
        argmax = self._buffer("argmax", out.shape, np.min_scalar_type(math.prod(self.pool) - 1))
        greater = self._buffer("greater", out.shape, bool)
        argmax.fill(0)
        for k, offset in enumerate(offsets(self.pool)):
            view = at_offset(x, offset, self.stride, out_size)
            if k == 0:
                np.copyto(out, view)
                continue
            np.greater(view, out, out=greater)  # strictly: the first maximum keeps the argmax
            np.copyto(argmax, k, where=greater)
            np.maximum(out, view, out=out)
        self._argmax, self._x_shape = argmax, x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        argmax, x_shape = self._cached(self._argmax), self._x_shape
        dx = self._buffer("dx", x_shape, dout.dtype)
        routed = self._buffer("routed", dout.shape, dout.dtype)
        is_max = self._buffer("is_max", dout.shape, bool)
        dx.fill(0)
        for k, offset in enumerate(offsets(self.pool)):
            np.equal(argmax, k, out=is_max)
            np.multiply(dout, is_max, out=routed)
            view = at_offset(dx, offset, self.stride, dout.shape[2:])
            view += routed  # overlapping windows (stride < pool) add up
        return dx

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(MaxUnpool(self), dout, inputs[0])

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(MaxGather(self), tangents[0], inputs[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        values = rng.permutation(2 * 2 * 5 * 4) / 10.0  # distinct, 0.1 apart: no ties
        return cls((2, 3), stride=(1, 2)), values.reshape(2, 2, 5, 4)


class _Routed(Layer):
    """Base of the gates that route by the argmax of each pooling window of `x` (a max pool's
    input): piecewise constant in x (its gradient is zero), linear in the other input."""

    n_inputs = 2
    _x_shape: tuple[int, ...] | None = None

    def __init__(self, pool: MaxPool2D) -> None:
        super().__init__()
        self.pool = type(pool)(pool.pool, pool.stride)  # MaxPool2D or MaxPool1D

    def _argmax(self, x: np.ndarray) -> np.ndarray:
        self.pool.forward(x)
        self._x_shape = np.shape(x)
        return self.pool._argmax

    def _zeros(self) -> np.ndarray:
        return np.zeros(self._cached(self._x_shape))


@LAYERS.register("max_unpool")
class MaxUnpool(_Routed):
    """out = a max pool's backward as a gate: v[n, c, i, j] goes to the argmax of window
    (i, j) of x, added up where windows overlap.  v: the pool's output shape, x: its input,
    out: x's shape.  Backward: dv = MaxGather(dout, x), dx = 0."""

    def forward(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        self._argmax(x)
        return self.pool.backward(v).copy()

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zeros = self._zeros()
        return _gather(self.pool, dout), zeros

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(MaxGather(self.pool), dout, inputs[1]), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        t = tangents[0]
        return None if t is None else g.add(MaxUnpool(self.pool), t, inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        pool, x = MaxPool2D.example(rng)
        return cls(pool), (rng.standard_normal(pool.forward(x).shape), x)


@LAYERS.register("max_gather")
class MaxGather(_Routed):
    """out[n, c, i, j] = v at the argmax of window (i, j) of x (a max pool's tangent).
    v, x: the pool's input shape, out: its output shape.  Backward: dv = MaxUnpool(dout, x),
    dx = 0."""

    def forward(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        self._argmax(x)
        return _gather(self.pool, v)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._cached(self._x_shape)
        return self.pool.backward(dout).copy(), self._zeros()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(MaxUnpool(self.pool), dout, inputs[1]), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        t = tangents[0]
        return None if t is None else g.add(MaxGather(self.pool), t, inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        pool, x = MaxPool2D.example(rng)
        return cls(pool), (rng.standard_normal(x.shape), x)


def _gather(pool: MaxPool2D, v: np.ndarray) -> np.ndarray:
    """v at each window's argmax, after `pool` ran forward on the x that picks them."""
    argmax = pool._cached(pool._argmax)
    out = np.zeros(argmax.shape, v.dtype)
    for k, offset in enumerate(offsets(pool.pool)):
        view = at_offset(v, offset, pool.stride, argmax.shape[2:])
        np.copyto(out, view, where=argmax == k)
    return out
