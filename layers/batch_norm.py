"""BatchNorm: normalize each feature over the batch (and positions), then scale and shift."""

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.params import Param
from gategraph.layers.base import LAYERS, Layer


@LAYERS.register("batch_norm")
class BatchNorm(Layer):
    """out = gamma · x̂ + beta with x̂ = (x - mu) / sqrt(var + eps), per feature (axis 1).
    x: (N, D), or spatial (N, C, H, W) / (N, C, L) with statistics over N and the spatial axes,
    so that each feature has M = N·H·W values; gamma, beta: (D,) or (C,); out: like x.

    Training: mu, var are the batch mean and biased variance (Σ (x - mu)² / M), and the running
    statistics update as running = momentum · running + (1 - momentum) · batch. `momentum` is the
    weight of the OLD value, as in CS231n and Keras (PyTorch's `momentum` is 1 minus this: its
    0.1 is our 0.9); the running variance is the biased one. Eval mode (`training` False)
    normalizes with the running statistics instead.
    Backward, training (CS231n's compact form): dbeta = Σ dout, dgamma = Σ dout · x̂,
    dx = gamma / sqrt(var + eps) · (dout - (dbeta + x̂ · dgamma) / M); in eval mode the map is
    affine, so dx = gamma / sqrt(running_var + eps) · dout.
    `buffers` holds running_mean and running_var (not trained, saved with checkpoints); they are
    updated in place, so restoring is `layer.buffers[name][...] = saved`.
    """

    _x_hat: np.ndarray | None = None  # normalized input of the last forward
    _inv_std: np.ndarray | None = None  # 1 / sqrt(var + eps), broadcastable like gamma
    _batch_stats: bool | None = None  # whether the last forward normalized by batch statistics

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.9,
        eps: float = 1e-5,
        *,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int | np.integer):
            raise ValueError(f"BatchNorm needs num_features to be an integer, got {num_features!r}")
        if num_features < 1 or not 0 <= momentum < 1 or not eps > 0:
            raise ValueError(
                "BatchNorm needs num_features >= 1, 0 <= momentum < 1 and eps > 0, got "
                f"num_features={num_features}, momentum={momentum}, eps={eps}"
            )
        self.momentum, self.eps = float(momentum), float(eps)
        self.params = {
            "gamma": Param(np.ones(num_features, dtype), decay=False),
            "beta": Param(np.zeros(num_features, dtype), decay=False),
        }
        self.buffers = {
            "running_mean": np.zeros(num_features, dtype),
            "running_var": np.ones(num_features, dtype),
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        D = len(self.params["gamma"].value)
        if x.ndim < 2 or x.shape[1] != D:
            raise ValueError(f"BatchNorm expects x of shape (N, {D}, ...), got {x.shape}")
        shape, axes = (D, *(1,) * (x.ndim - 2)), (0, *range(2, x.ndim))
        x_hat = self._buffer("x_hat", x.shape, x.dtype)
        out = self._buffer("out", x.shape, x.dtype)
        if self.training:
            mean, var = self._batch_statistics(x, axes, x_hat, out)
        else:
            mean = self.buffers["running_mean"].reshape(shape)
            var = self.buffers["running_var"].reshape(shape)
            np.subtract(x, mean, out=x_hat)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat *= inv_std
        np.multiply(x_hat, self.params["gamma"].value.reshape(shape), out=out)
        out += self.params["beta"].value.reshape(shape)
        self._x_hat, self._inv_std, self._batch_stats = x_hat, inv_std, self.training
        return out

    def _batch_statistics(
        self, x: np.ndarray, axes: tuple[int, ...], centered: np.ndarray, scratch: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Batch mean and biased variance (keepdims); writes x - mean into `centered`."""
        mean = np.mean(x, axis=axes, keepdims=True)
        np.subtract(x, mean, out=centered)
        var = np.mean(np.square(centered, out=scratch), axis=axes, keepdims=True)
        for name, batch in (("running_mean", mean), ("running_var", var)):
            running = self.buffers[name]
            running *= self.momentum
            running += (1.0 - self.momentum) * batch.ravel()
        return mean, var

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._cached(self._x_hat), self._inv_std
        gamma, beta = self.params["gamma"], self.params["beta"]
        axes = (0, *range(2, dout.ndim))
        dx = self._buffer("dx", dout.shape, dout.dtype)
        np.sum(np.multiply(dout, x_hat, out=dx), axis=axes, out=gamma.grad)
        np.sum(dout, axis=axes, out=beta.grad)
        scale = gamma.value.reshape(inv_std.shape) * inv_std
        if not self._batch_stats:
            return np.multiply(dout, scale, out=dx)
        M = dout.size // len(gamma.value)
        np.multiply(x_hat, gamma.grad.reshape(inv_std.shape) / M, out=dx)
        dx += beta.grad.reshape(inv_std.shape) / M
        np.subtract(dout, dx, out=dx)
        dx *= scale
        return dx

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(3, dtype=np.float64)
        layer.params["gamma"].value[...] = rng.uniform(0.5, 1.5, 3)
        layer.params["beta"].value[...] = rng.standard_normal(3)
        return layer, rng.standard_normal((4, 3, 2, 2))
