"""BatchNorm: normalize each feature over the batch (and positions), then scale and shift."""

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.params import Param
from gategraph.layers.base import LAYERS, Adjoints, Builder, ConstantGate, Layer
from gategraph.layers.elementwise import Divide, Multiply, Power, Shift, Subtract, sum_nodes
from gategraph.layers.shape import BroadcastLike, Count, ReshapeLike


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, gamma, beta = inputs
        x_hat, scale, stats = self._normalized(g, x)
        gamma_b = g.add(ReshapeLike(), gamma, stats.shape)
        v = g.add(Multiply(), dout, gamma_b)
        dx = stats.project(v, x_hat, scale) if self.training else g.add(Multiply(), v, scale)
        dgamma = g.add(ReshapeLike(), g.add(FeatureSum(), g.add(Multiply(), dout, x_hat)), gamma)
        return dx, dgamma, g.add(ReshapeLike(), g.add(FeatureSum(), dout), beta)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, gamma, _), (tx, tgamma, tbeta) = inputs, tangents
        x_hat, scale, stats = self._normalized(g, x)
        gamma_b = g.add(ReshapeLike(), gamma, stats.shape)
        terms = []
        if tx is not None:
            dx_hat = (
                stats.project(tx, x_hat, scale) if self.training else g.add(Multiply(), tx, scale)
            )
            terms.append(g.add(Multiply(), dx_hat, gamma_b))
        if tgamma is not None:
            terms.append(g.add(Multiply(), x_hat, g.add(ReshapeLike(), tgamma, stats.shape)))
        if tbeta is not None:
            terms.append(g.add(BroadcastLike(), g.add(ReshapeLike(), tbeta, stats.shape), out))
        return sum_nodes(g, *terms)

    def _normalized(self, g: Builder, x: str) -> tuple[str, str, "_Stats"]:
        """x̂, the scale 1 / sqrt(var + eps) per feature and the statistics' helper, as nodes:
        batch statistics in training, the running ones in eval (checked again at run time)."""
        x = g.add(BatchNormMode(self), x)  # refuses to run if the mode changed since
        stats = _Stats(g, x)
        if self.training:
            centered = g.add(Subtract(), x, stats.mean(x))
            var = stats.mean(g.add(Multiply(), centered, centered))
            scale = g.add(Power(-0.5), g.add(Shift(self.eps), var))
        else:
            centered = g.add(Subtract(), x, g.add(RunningStat(self, "mean"), stats.shape))
            scale = g.add(RunningStat(self, "scale"), stats.shape)
        return g.add(Multiply(), centered, scale), scale, stats

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(3, dtype=np.float64)
        layer.params["gamma"].value[...] = rng.uniform(0.5, 1.5, 3)
        layer.params["beta"].value[...] = rng.standard_normal(3)
        return layer, rng.standard_normal((4, 3, 2, 2))


class _Stats:
    """Per-feature means over the batch (and positions) of x, as nodes; `shape` is a node of
    the statistics' shape (1, D, 1, ...), to which the params are reshaped."""

    def __init__(self, g: Builder, x: str) -> None:
        self.g, self.x = g, x
        self.shape = g.add(FeatureSum(), x)
        self.count = g.add(Divide(), g.add(Count(), x), g.add(Count(), self.shape))

    def mean(self, v: str) -> str:
        return self.g.add(Divide(), self.g.add(FeatureSum(), v), self.count)

    def project(self, v: str, x_hat: str, scale: str) -> str:
        """(v - mean(v) - x̂ mean(v x̂)) scale: batch normalization's Jacobian (symmetric)."""
        g = self.g
        along = g.add(Multiply(), x_hat, self.mean(g.add(Multiply(), v, x_hat)))
        centered = g.add(Subtract(), g.add(Subtract(), v, self.mean(v)), along)
        return g.add(Multiply(), centered, scale)


@LAYERS.register("feature_sum")
class FeatureSum(Layer):
    """out = Σ x over every axis but axis 1, kept as size-1 axes.  x: (N, D, ...),
    out: (1, D, 1, ...).  Backward: dx = dout broadcast to x's shape."""

    _x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"FeatureSum expects x of shape (N, D, ...), got {x.shape}")
        self._x_shape = x.shape
        return np.sum(x, axis=(0, *range(2, x.ndim)), keepdims=True)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.broadcast_to(dout, self._cached(self._x_shape)).copy()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(BroadcastLike(), dout, inputs[0])

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(FeatureSum(), tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((4, 3, 2))


@LAYERS.register("batch_norm_mode")
class BatchNormMode(Layer):
    """out = x, after checking that a BatchNorm is still in the mode (training or eval) its
    gradient graph was built for: the graph would otherwise use the other statistics.
    Backward: dx = dout."""

    _x_shape: tuple[int, ...] | None = None

    def __init__(self, norm: BatchNorm) -> None:
        super().__init__()
        self.norm, self.training_then = norm, norm.training

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.norm.training != self.training_then:
            raise RuntimeError(
                f"this gradient graph was built with the BatchNorm in "
                f"{'training' if self.training_then else 'eval'} mode: switch it back, or "
                "build the gradients again"
            )
        self._x_shape = np.shape(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._cached(self._x_shape)
        return np.array(dout, copy=True)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return dout

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return tangents[0]

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(BatchNorm.example(rng)[0]), rng.standard_normal((4, 3))


@LAYERS.register("running_stat")
class RunningStat(ConstantGate):
    """out = a BatchNorm's running mean ("mean") or 1 / sqrt(running_var + eps) ("scale"),
    shaped like `like` (1, D, 1, ...), read for its shape.  Not trained here: dlike = 0."""

    def __init__(self, norm: BatchNorm, which: str) -> None:
        super().__init__()
        if which not in ("mean", "scale"):
            raise ValueError(f"RunningStat reads 'mean' or 'scale', got {which!r}")
        self.norm, self.which = norm, which

    def forward(self, like: np.ndarray) -> np.ndarray:
        shape = np.shape(like)
        self._x_shape = shape
        if self.which == "mean":
            return self.norm.buffers["running_mean"].reshape(shape)
        return (1.0 / np.sqrt(self.norm.buffers["running_var"] + self.norm.eps)).reshape(shape)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(BatchNorm.example(rng)[0], "scale"), rng.standard_normal((1, 3, 1, 1))
