"""Conv2D: 2-D convolution (cross-correlation) by im2col and one batched GEMM."""

import math
from typing import ClassVar

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from layers.base import LAYERS, Layer, Param
from layers.im2col import as_tuple, col2im, output_size, pad_into, windows
from layers.init import INITIALIZERS

_CHUNK_BYTES = 4 << 20  # dcols per backward chunk: a few MB stay in the L2/L3 caches


@LAYERS.register("conv2d")
class Conv2D(Layer):
    """out[n, f, i, j] = b[f] + Σ_{c, p, q} W[f, c, p, q] · xp[n, c, i·sh + p, j·sw + q],
    xp = x zero-padded by `pad`.  x: (N, C, H, W), W: (F, C, HH, WW), b: (F,),
    out: (N, F, H', W') with H' = (H + 2 pad_h - HH) // stride_h + 1 (likewise W').

    As in CS231n and PyTorch: cross-correlation (the kernel is not flipped); `kernel_size`,
    `stride`, `pad` are an int or an (h, w) pair. Forward copies the windows into columns
    cols: (N, C·HH·WW, H'·W') and computes out[n] = W_flat @ cols[n] in one batched GEMM.
    Backward: db = Σ_{n,i,j} dout; dW = Σ_n dout[n] @ cols[n]ᵀ; dcols[n] = W_flatᵀ @ dout[n],
    and dx adds each column entry back at its input position (col2im, overlapping windows sum).
    """

    spatial: ClassVar[int] = 2  # number of spatial axes; Conv1D sets 1
    _cols: np.ndarray | None = None  # (N, C, *kernel, *out) windows of the padded input
    _x_shape: tuple[int, ...] | None = None  # shape of the last input

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        pad: int | tuple[int, ...] = 0,
        *,
        rng: Generator,
        init: str = "he",
        init_scale: float = 0.01,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        who, n = type(self).__name__, self.spatial
        for name, count in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
                raise ValueError(f"{who} needs {name} to be a positive integer, got {count!r}")
        self.kernel = as_tuple(kernel_size, n, who, "kernel_size", 1)
        self.stride = as_tuple(stride, n, who, "stride", 1)
        self.pad = as_tuple(pad, n, who, "pad", 0)
        W = INITIALIZERS.get(init)(
            rng, (out_channels, in_channels, *self.kernel), init_scale
        ).astype(dtype)
        self.params = {"W": Param(W), "b": Param(np.zeros(out_channels, dtype), decay=False)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        W, b = self.params["W"].value, self.params["b"].value
        F, C = W.shape[:2]
        out_size = output_size(type(self).__name__, x.shape, self.kernel, self.stride, self.pad)
        if x.shape[1] != C:
            raise ValueError(f"{type(self).__name__} expects {C} input channels, got x {x.shape}")
        N = len(x)
        xp = pad_into(x, self.pad, self._buffer("padded", self._padded(x.shape), x.dtype))
        cols = self._buffer("cols", (N, C, *self.kernel, *out_size), x.dtype)
        np.copyto(cols, windows(xp, self.kernel, self.stride))
        out = self._buffer("out", (N, F, *out_size), np.result_type(x, W))
        P = math.prod(out_size)
        np.matmul(W.reshape(F, -1), cols.reshape(N, -1, P), out=out.reshape(N, F, P))
        out += b.reshape(F, *(1,) * self.spatial)  # bias added into the GEMM output
        self._cols, self._x_shape = cols, x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        cols, x_shape = self._cached(self._cols), self._x_shape
        W, b = self.params["W"], self.params["b"]
        N, F = dout.shape[:2]
        dout3 = dout.reshape(N, F, -1)
        cols3 = cols.reshape(N, -1, dout3.shape[2])
        np.sum(dout3, axis=(0, 2), out=b.grad)
        per_sample = self._buffer("dW_per_sample", (N, F, cols3.shape[1]), W.grad.dtype)
        np.matmul(dout3, cols3.transpose(0, 2, 1), out=per_sample)
        np.sum(per_sample, axis=0, out=W.grad.reshape(F, -1))  # grads are contiguous views
        if not self.needs_input_grad:
            return None
        return self._input_grad(dout3, cols.shape, x_shape)

    def _input_grad(
        self, dout3: np.ndarray, cols_shape: tuple[int, ...], x_shape: tuple[int, ...]
    ) -> np.ndarray:
        """dx by dcols[n] = W_flatᵀ @ dout[n] and col2im, a few samples at a time, so that the
        chunk's columns stay in cache (and never take the memory of a whole batch's)."""
        W = self.params["W"].value
        W_T = W.reshape(len(W), -1).T
        dx = self._buffer("dx", x_shape, dout3.dtype)
        chunk = max(1, _CHUNK_BYTES // (math.prod(cols_shape[1:]) * dout3.itemsize))
        dcols = self._buffer("dcols", (min(chunk, len(dx)), *cols_shape[1:]), dout3.dtype)
        for start in range(0, len(dx), chunk):
            rows = slice(start, start + chunk)
            part = dcols[: len(dx[rows])]
            np.matmul(W_T, dout3[rows], out=part.reshape(len(part), -1, dout3.shape[2]))
            col2im(part, self.stride, self.pad, dx[rows])
        return dx

    def _padded(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*shape[:2], *(s + 2 * p for s, p in zip(shape[2:], self.pad, strict=True)))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(2, 3, (3, 2), stride=(2, 1), pad=1, rng=rng, dtype=np.float64)
        return layer, rng.standard_normal((2, 2, 5, 4))
