"""Mean squared error: the regression loss."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import Adjoints, Builder, Layer
from gategraph.layers.elementwise import Divide, Multiply, Scale, Subtract
from gategraph.layers.shape import Count, ReshapeLike, Sum
from gategraph.losses.base import LOSSES, Loss

REDUCTIONS = ("mean", "sum")


@LOSSES.register("mse")
class MSE(Loss):
    """L = (1/K) Σ_k (s_k - y_k)² over all K elements ("mean", as torch's MSELoss), or
    L = Σ_k (s_k - y_k)² ("sum").  scores: any shape, e.g. (N, M); y: floats of the same
    shape, or (N,) for scores (N, 1). No other broadcasting: (N, 1) against (N,) would
    silently compare every score with every target.

    Backward: dscores = dout * 2 (s - y) / K ("mean") or dout * 2 (s - y) ("sum").
    """

    _diff: np.ndarray | None = None  # s - y at the last forward

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"MSE needs reduction in {list(REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        y = _check_targets(np.asarray(y), scores)
        dtype = scores.dtype if scores.dtype.kind == "f" else np.float64
        diff = np.subtract(scores, y, out=self._buffer("diff", scores.shape, dtype))
        self._diff = diff
        total = float(np.vdot(diff, diff))
        return total / diff.size if self.reduction == "mean" else total

    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:
        diff = self._cached(self._diff)
        scale = 2.0 * dout / diff.size if self.reduction == "mean" else 2.0 * dout
        dscores = np.multiply(diff, scale, out=self._buffer("dscores", diff.shape, diff.dtype))
        return dscores, None

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        scores, y = inputs
        return g.add(Multiply(), _diff(g, scores, y), self._per_element(g, scores, dout)), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (scores, y), (t, _) = inputs, tangents
        dot = g.add(Sum(), g.add(Multiply(), _diff(g, scores, y), t))
        return self._per_element(g, scores, dot)

    def _per_element(self, g: Builder, scores: str, dout: str) -> str:
        """2 dout / K ("mean") or 2 dout ("sum"), as nodes."""
        twice = g.add(Scale(2.0), dout)
        if self.reduction == "sum":
            return twice
        return g.add(Divide(), twice, g.add(Count(), scores))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))


def _check_targets(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    if y.dtype.kind not in "iuf":
        raise TypeError(f"MSE expects numeric targets y, got dtype {y.dtype}")
    if y.shape == scores.shape:
        return y
    if scores.ndim == 2 and scores.shape[1] == 1 and y.shape == scores.shape[:1]:
        return y.reshape(scores.shape)
    raise ValueError(
        f"MSE expects targets y of the scores' shape {scores.shape}"
        + (f" or ({len(scores)},)" if scores.ndim == 2 and scores.shape[1] == 1 else "")
        + f", got {y.shape}"
    )


def _diff(g: Builder, scores: str, y: str) -> str:
    return g.add(Subtract(), scores, g.add(ReshapeLike(), y, scores))
