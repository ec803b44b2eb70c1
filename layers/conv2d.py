"""Conv2D: 2-D convolution (cross-correlation) by im2col and one batched GEMM."""

import math
from typing import ClassVar

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.params import Param
from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.batch_norm import FeatureSum
from gategraph.layers.elementwise import sum_nodes
from gategraph.layers.im2col import as_tuple, col2im, output_size, pad_into, windows
from gategraph.layers.init import INITIALIZERS
from gategraph.layers.shape import BroadcastLike, ReshapeLike

_CHUNK_BYTES = 3 << 20  # dcols per backward chunk: ~3 MB stays in cache (best on bench_conv)


@LAYERS.register("conv2d")
class Conv2D(Layer):
    """out[n, f, i, j] = b[f] + Σ_{c, p, q} W[f, c, p, q] · xp[n, c, i·sh + p, j·sw + q],
    xp = x zero-padded by `pad`.  x: (N, C, H, W), W: (F, C, HH, WW), b: (F,),
    out: (N, F, H', W') with H' = (H + 2 pad_h - HH) // stride_h + 1 (likewise W').

    As in CS231n and PyTorch: cross-correlation (the kernel is not flipped), W and b shaped as
    theirs; `kernel_size`, `stride`, `pad` are an int or an (h, w) pair.
    Forward (im2col): the windows are copied into columns cols[n]: (C·HH·WW + 1, H'·W') whose
    last row is ones, so that one batched GEMM out[n] = [W_flat | b] @ cols[n] adds the bias too.
    Backward: [dW_flat | db] = Σ_n dout[n] @ cols[n]ᵀ (the ones row gives db = Σ_{n,i,j} dout);
    dcols[n] = W_flatᵀ @ dout[n], and dx adds each entry back at its input position (col2im:
    overlapping windows sum, entries on the padding are dropped), a few samples at a time.
    """

    spatial: ClassVar[int] = 2  # number of spatial axes; Conv1D sets 1
    _cols: np.ndarray | None = None  # (N, C·HH·WW + 1, H'·W'): windows, then a row of ones
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
        self._zero_bordered: np.ndarray | None = None  # the padded buffer with zeroed borders
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
        N, K, P = len(x), W[0].size, math.prod(out_size)
        xp = self._padded_input(x)
        cols = self._buffer("cols", (N, K + 1, P), x.dtype)
        np.copyto(
            cols[:, :K].reshape(N, C, *self.kernel, *out_size),
            windows(xp, self.kernel, self.stride),
        )
        cols[:, K] = 1  # the bias trick: a row of ones times the column b
        Wb = self._buffer("Wb", (F, K + 1), W.dtype)
        Wb[:, :K], Wb[:, K] = W.reshape(F, K), b
        out = self._buffer("out", (N, F, *out_size), np.result_type(x, W))
        np.matmul(Wb, cols, out=out.reshape(N, F, P))
        self._cols, self._x_shape = cols, x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        cols, x_shape = self._cached(self._cols), self._x_shape
        W, b = self.params["W"], self.params["b"]
        N, F = dout.shape[:2]
        dout3 = dout.reshape(N, F, -1)
        per_sample = self._buffer("dWb_per_sample", (N, F, cols.shape[1]), W.grad.dtype)
        np.matmul(dout3, cols.transpose(0, 2, 1), out=per_sample)  # [dW | db] of each sample
        np.sum(per_sample[:, :, :-1], axis=0, out=W.grad.reshape(F, -1))  # grads: contiguous
        np.sum(per_sample[:, :, -1], axis=0, out=b.grad)
        if not self.needs_input_grad:
            return None
        return self._input_grad(dout, x_shape)

    def _input_grad(self, dout: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
        """dx by dcols[n] = W_flatᵀ @ dout[n] and col2im, a few samples at a time, so that the
        chunk's columns stay in cache (and never take the memory of a whole batch's)."""
        W = self.params["W"].value
        W_T = W.reshape(len(W), -1).T
        dout3 = dout.reshape(*dout.shape[:2], -1)
        dx = self._buffer("dx", x_shape, dout.dtype)
        sample = (x_shape[1], *self.kernel, *dout.shape[2:])  # one sample's columns
        chunk = max(1, _CHUNK_BYTES // (math.prod(sample) * dout.itemsize))
        dcols = self._buffer("dcols", (min(chunk, len(dx)), *sample), dout.dtype)
        for start in range(0, len(dx), chunk):
            rows = slice(start, start + chunk)
            part = dcols[: len(dx[rows])]
            np.matmul(W_T, dout3[rows], out=part.reshape(len(part), -1, dout3.shape[2]))
            col2im(part, self.stride, self.pad, dx[rows])
        return dx

    def _padded_input(self, x: np.ndarray) -> np.ndarray:
        """x zero-padded, in a buffer whose borders are zeroed only when it is new: they take a
        pass over the whole buffer, and nothing else writes there."""
        if not any(self.pad):
            return x
        shape = (*x.shape[:2], *(s + 2 * p for s, p in zip(x.shape[2:], self.pad, strict=True)))
        buf = self._buffer("padded", shape, x.dtype)
        pad_into(x, self.pad, buf, borders=buf is not self._zero_bordered)
        self._zero_bordered = buf
        return buf

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, W, b = inputs
        dx = g.add(ConvInputGrad(self), dout, W, x)
        dW = g.add(ConvWeightGrad(self), x, dout, W)
        return dx, dW, g.add(ReshapeLike(), g.add(FeatureSum(), dout), b)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, W, _), (tx, tW, tb) = inputs, tangents
        return sum_nodes(
            g,
            None if tx is None else g.add(ConvFn(self), tx, W),
            None if tW is None else g.add(ConvFn(self), x, tW),
            None if tb is None else _spread_bias(g, tb, out),
        )

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(2, 3, (3, 2), stride=(2, 1), pad=1, rng=rng, dtype=np.float64)
        return layer, rng.standard_normal((2, 2, 5, 4))


def _spread_bias(g: Builder, b: str, out: str) -> str:
    """b (F,) as (1, F, 1, ...) broadcast like out, as nodes."""
    return g.add(BroadcastLike(), g.add(ReshapeLike(), b, g.add(FeatureSum(), out)), out)


class _ConvOp(Layer):
    """Base of the convolution's functional gates: W is an input, not a param. Each runs a
    private convolution of its template's kind, kernel, stride and padding."""

    _W: np.ndarray | None = None

    def __init__(self, conv: Conv2D) -> None:
        super().__init__()
        self.template = conv
        self._inner: dict[tuple, Conv2D] = {}  # not a cache: private convolutions by W's shape

    def _conv(self, W: np.ndarray) -> Conv2D:
        W = np.asarray(W)
        key = (W.shape, W.dtype)
        conv = self._inner.get(key)
        if conv is None:
            t = self.template
            conv = type(t)(
                W.shape[1],
                W.shape[0],
                t.kernel,
                t.stride,
                t.pad,
                rng=np.random.default_rng(0),
                dtype=W.dtype,
            )
            conv.params["b"].value[...] = 0
            self._inner[key] = conv
        conv.params["W"].value[...] = W
        conv.needs_input_grad = True
        return conv


@LAYERS.register("conv_fn")
class ConvFn(_ConvOp):
    """out = the convolution of x with W, no bias (Conv2D's or Conv1D's, as the template).
    x: (N, C, ...), W: (F, C, k...), out: (N, F, ...).
    Backward: dx = ConvInputGrad(dout, W), dW = ConvWeightGrad(x, dout)."""

    n_inputs = 2
    _x: np.ndarray | None = None

    def forward(self, x: np.ndarray, W: np.ndarray) -> np.ndarray:
        self._x, self._W = np.asarray(x), np.asarray(W)
        return self._conv(W).forward(x).copy()

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, W = self._cached(self._x), self._W
        conv = self._conv(W)
        conv.forward(x)
        dx = conv.backward(dout).copy()
        return dx, conv.params["W"].grad.copy()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, W = inputs
        return g.add(ConvInputGrad(self.template), dout, W, x), g.add(
            ConvWeightGrad(self.template), x, dout, W
        )

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, W), (tx, tW) = inputs, tangents
        return sum_nodes(
            g,
            None if tx is None else g.add(ConvFn(self.template), tx, W),
            None if tW is None else g.add(ConvFn(self.template), x, tW),
        )

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        conv, x = Conv2D.example(rng)
        return cls(conv), (x, rng.standard_normal(conv.params["W"].value.shape))


@LAYERS.register("conv_input_grad")
class ConvInputGrad(_ConvOp):
    """out = the convolution's input gradient for upstream v: col2im of Wᵀ v (a transposed
    convolution).  v: (N, F, ...) the output's shape, W: (F, C, k...), like: the input (read for
    its shape), out: like's shape.  Backward: dv = ConvFn(dout, W), dW = ConvWeightGrad(dout, v).
    """

    n_inputs = 3
    shape_inputs = (2,)
    _v: np.ndarray | None = None
    _like_shape: tuple[int, ...] | None = None

    def forward(self, v: np.ndarray, W: np.ndarray, like: np.ndarray) -> np.ndarray:
        self._v, self._W, self._like_shape = np.asarray(v), np.asarray(W), np.shape(like)
        return self._conv(W)._input_grad(self._v, self._like_shape).copy()

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v, W = self._cached(self._v), self._W
        conv = self._conv(W)
        dv = conv.forward(dout).copy()
        conv.backward(v)
        return dv, conv.params["W"].grad.copy(), np.zeros(self._like_shape)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        v, W, like = inputs
        dv = g.add(ConvFn(self.template), dout, W)
        return dv, g.add(ConvWeightGrad(self.template), dout, v, W), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (v, W, like), (tv, tW, _) = inputs, tangents
        return sum_nodes(
            g,
            None if tv is None else g.add(ConvInputGrad(self.template), tv, W, like),
            None if tW is None else g.add(ConvInputGrad(self.template), v, tW, like),
        )

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, ...]]:
        conv, x = Conv2D.example(rng)
        v = rng.standard_normal(conv.forward(x).shape)
        return cls(conv), (v, rng.standard_normal(conv.params["W"].value.shape), x)


@LAYERS.register("conv_weight_grad")
class ConvWeightGrad(_ConvOp):
    """out = the convolution's weight gradient for input x and upstream v: Σ_n v[n] ⊗ the
    windows of x[n].  x: (N, C, ...), v: (N, F, ...), like: W (read for its shape), out: W's
    shape.  Backward: dx = ConvInputGrad(v, dout), dv = ConvFn(x, dout)."""

    n_inputs = 3
    shape_inputs = (2,)
    _x: np.ndarray | None = None
    _v: np.ndarray | None = None

    def forward(self, x: np.ndarray, v: np.ndarray, like: np.ndarray) -> np.ndarray:
        self._x, self._v, self._W = np.asarray(x), np.asarray(v), np.asarray(like)
        conv = self._conv(np.zeros(np.shape(like), np.result_type(x, v)))
        conv.forward(self._x)
        conv.backward(self._v)
        return conv.params["W"].grad.copy()

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, v = self._cached(self._x), self._v
        conv = self._conv(dout)
        dx = conv._input_grad(v, x.shape).copy()
        return dx, conv.forward(x).copy(), np.zeros(np.shape(dout))

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, v, _ = inputs
        dx = g.add(ConvInputGrad(self.template), v, dout, x)
        return dx, g.add(ConvFn(self.template), x, dout), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, v, like), (tx, tv, _) = inputs, tangents
        return sum_nodes(
            g,
            None if tx is None else g.add(ConvWeightGrad(self.template), tx, v, like),
            None if tv is None else g.add(ConvWeightGrad(self.template), x, tv, like),
        )

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, ...]]:
        conv, x = Conv2D.example(rng)
        v = rng.standard_normal(conv.forward(x).shape)
        return cls(conv), (x, v, rng.standard_normal(conv.params["W"].value.shape))
