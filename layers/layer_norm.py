"""LayerNorm: normalize each sample over its last axis, then scale and shift."""

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.params import Param
from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Divide, Multiply, Power, Shift, Subtract, sum_nodes
from gategraph.layers.shape import BroadcastLike, Count, Sum, SumLike


@LAYERS.register("layer_norm")
class LayerNorm(Layer):
    """out = gamma · x̂ + beta with x̂ = (x - mu) / sqrt(var + eps), where mu and var are the mean
    and biased variance over the last axis of each row.  x: (..., D), gamma, beta: (D,),
    out: like x. The same computation in training and eval mode (no running statistics).

    Backward (per row, like BatchNorm's compact form with the roles of the axes swapped):
    dbeta = Σ_rows dout, dgamma = Σ_rows dout · x̂, and with g = dout · gamma,
    dx = (g - mean(g) - x̂ · mean(g · x̂)) / sqrt(var + eps), means over the last axis.
    """

    feature_axis: int = -1  # num_features is the size of a sample's last axis (build infers it)
    _x_hat: np.ndarray | None = None  # normalized input of the last forward
    _inv_std: np.ndarray | None = None  # (..., 1): 1 / sqrt(var + eps) per row

    def __init__(
        self, num_features: int, eps: float = 1e-5, *, dtype: DTypeLike = np.float32
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int | np.integer):
            raise ValueError(f"LayerNorm needs num_features to be an integer, got {num_features!r}")
        if num_features < 1 or not eps > 0:
            raise ValueError(
                f"LayerNorm needs num_features >= 1 and eps > 0, got {num_features} and {eps}"
            )
        self.eps = float(eps)
        self.params = {
            "gamma": Param(np.ones(num_features, dtype), decay=False),
            "beta": Param(np.zeros(num_features, dtype), decay=False),
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        gamma, beta = self.params["gamma"].value, self.params["beta"].value
        if x.ndim < 1 or x.shape[-1] != len(gamma):
            raise ValueError(f"LayerNorm expects x of shape (..., {len(gamma)}), got {x.shape}")
        x_hat = self._buffer("x_hat", x.shape, x.dtype)
        out = self._buffer("out", x.shape, x.dtype)
        np.subtract(x, np.mean(x, axis=-1, keepdims=True), out=x_hat)
        var = np.mean(np.square(x_hat, out=out), axis=-1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat *= inv_std
        np.multiply(x_hat, gamma, out=out)
        out += beta
        self._x_hat, self._inv_std = x_hat, inv_std
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._cached(self._x_hat), self._inv_std
        gamma, beta = self.params["gamma"], self.params["beta"]
        D = len(gamma.value)
        dx = self._buffer("dx", dout.shape, dout.dtype)
        scratch = self._buffer("scratch", dout.shape, dout.dtype)
        np.multiply(dout, x_hat, out=scratch)
        np.sum(scratch.reshape(-1, D), axis=0, out=gamma.grad)
        np.sum(dout.reshape(-1, D), axis=0, out=beta.grad)
        g = np.multiply(dout, gamma.value, out=dx)
        g_x_hat_mean = np.mean(np.multiply(g, x_hat, out=scratch), axis=-1, keepdims=True)
        g_mean = np.mean(g, axis=-1, keepdims=True)
        np.multiply(x_hat, g_x_hat_mean, out=scratch)
        dx -= scratch
        dx -= g_mean
        dx *= inv_std
        return dx

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, gamma, beta = inputs
        x_hat, inv_std = self._normalized(g, x)
        dx = _project(g, x, x_hat, inv_std, g.add(Multiply(), dout, gamma))
        dgamma = g.add(SumLike(), g.add(Multiply(), dout, x_hat), gamma)
        return dx, dgamma, g.add(SumLike(), dout, beta)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, gamma, _), (tx, tgamma, tbeta) = inputs, tangents
        x_hat, inv_std = self._normalized(g, x)
        return sum_nodes(
            g,
            None if tx is None else g.add(Multiply(), _project(g, x, x_hat, inv_std, tx), gamma),
            None if tgamma is None else g.add(Multiply(), x_hat, tgamma),
            None if tbeta is None else g.add(BroadcastLike(), tbeta, out),
        )

    def _normalized(self, g: Builder, x: str) -> tuple[str, str]:
        """x̂ and 1 / sqrt(var + eps) (broadcast like x), as nodes."""
        centered = g.add(Subtract(), x, _mean(g, x, x))
        var = _mean(g, g.add(Multiply(), centered, centered), x)
        inv_std = g.add(Power(-0.5), g.add(Shift(self.eps), var))
        return g.add(Multiply(), centered, inv_std), inv_std

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(5, dtype=np.float64)
        layer.params["gamma"].value[...] = rng.uniform(0.5, 1.5, 5)
        layer.params["beta"].value[...] = rng.standard_normal(5)
        return layer, rng.standard_normal((2, 3, 5))


def _mean(g: Builder, v: str, x: str) -> str:
    """The mean of v over the last axis, broadcast back like x, as nodes."""
    total = g.add(Divide(), g.add(Sum(axis=-1), v), g.add(Count(axis=-1), x))
    return g.add(BroadcastLike(axis=-1), total, x)


def _project(g: Builder, x: str, x_hat: str, inv_std: str, v: str) -> str:
    """(v - mean(v) - x̂ mean(v x̂)) / sqrt(var + eps): the normalization's Jacobian (symmetric)
    times v, as nodes."""
    along = g.add(Multiply(), x_hat, _mean(g, g.add(Multiply(), v, x_hat), x))
    centered = g.add(Subtract(), g.add(Subtract(), v, _mean(g, v, x)), along)
    return g.add(Multiply(), centered, inv_std)
