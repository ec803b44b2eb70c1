"""MaxPool2D: the maximum of each pooling window."""

import math
from typing import ClassVar

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Layer
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

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        values = rng.permutation(2 * 2 * 5 * 4) / 10.0  # distinct, 0.1 apart: no ties
        return cls((2, 3), stride=(1, 2)), values.reshape(2, 2, 5, 4)
