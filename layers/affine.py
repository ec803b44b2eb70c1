"""Affine: the fully connected layer."""

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.params import Param, gemm
from gategraph.layers.base import LAYERS, Layer
from gategraph.layers.init import INITIALIZERS


@LAYERS.register("affine")
class Affine(Layer):
    """out = x @ W + b.  x: (N, D) or (N, d1, ..., dk), W: (D, M), b: (M,), out: (N, M).

    Backward: dW = xᵀ dout, db = Σ_N dout, dx = dout Wᵀ (reshaped like x).
    `init` is "he", "xavier" / "glorot" or "normal" (std `init_scale`).
    """

    _x: np.ndarray | None = None  # input of the last forward, as (N, D)
    _x_shape: tuple[int, ...] | None = None  # its original shape, for dx

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        rng: Generator,
        init: str = "he",
        init_scale: float = 0.01,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        for name, dim in (("in_dim", in_dim), ("out_dim", out_dim)):
            if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
                raise TypeError(f"Affine needs {name} to be an integer, got {dim!r}")
            if dim < 1:
                raise ValueError(f"Affine needs {name} to be a positive integer, got {dim!r}")
        W = INITIALIZERS.get(init)(rng, (in_dim, out_dim), init_scale).astype(dtype)
        self.params = {"W": Param(W), "b": Param(np.zeros(out_dim, dtype), decay=False)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        W, b = self.params["W"].value, self.params["b"].value
        flat = x if x.ndim == 2 else x.reshape(len(x), -1)  # (N, d1..dk) -> (N, D), as CS231n
        if flat.shape[1] != W.shape[0]:
            raise ValueError(f"Affine expects {W.shape[0]} features per sample, got x {x.shape}")
        self._x, self._x_shape = flat, x.shape
        dtype = x.dtype if x.dtype == W.dtype else np.result_type(x, W)
        out = self._buffer("out", (len(x), W.shape[1]), dtype)
        gemm(flat, W, out)
        out += b  # bias added into the GEMM output, no temporary
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        x, W, b = self._cached(self._x), self.params["W"], self.params["b"]
        gemm(x.T, dout, W.grad)  # in place: grads may be views into a flat buffer
        gemm(self._ones(len(x), dout.dtype), dout, b.grad)  # db = Σ_N dout, a GEMV
        if not self.needs_input_grad:
            return None
        dx = self._buffer("dx", x.shape, dout.dtype)
        gemm(dout, W.value.T, dx)
        return dx.reshape(self._x_shape)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(3, 2, rng=rng, dtype=np.float64), rng.standard_normal((4, 3))
