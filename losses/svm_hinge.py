"""Multiclass SVM hinge loss (Weston-Watkins), the linear SVM's loss."""

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number
from gategraph.layers.base import LAYERS, Adjoints, Builder, ConstantGate, Layer
from gategraph.layers.elementwise import Divide, Multiply
from gategraph.layers.shape import Count, Sum
from gategraph.losses.base import LOSSES, Loss, check_labels


@LOSSES.register("svm_hinge")
class SVMHinge(Loss):
    """L = mean_i Σ_{j≠y_i} max(0, s_ij - s_i,y_i + margin).  scores: (N, C), y: (N,) ints in
    [0, C), margin >= 0 (default 1.0, as in CS231n).

    Backward: with active_ij = [j ≠ y_i and s_ij - s_i,y_i + margin > 0],
    dscores_ij = dout * active_ij / N and dscores_i,y_i = -dout * Σ_j active_ij / N.
    At the kink (a margin exactly 0) the term counts as inactive: subgradient 0, as for ReLU.
    """

    _active: np.ndarray | None = None  # 1.0 where a margin > 0 at the last forward, else 0.0
    _y: np.ndarray | None = None

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = check_number("SVMHinge", "margin", margin, low=0.0)

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        y = check_labels(y, scores, "SVMHinge")
        rows = np.arange(len(y))
        margins = self._buffer("margins", scores.shape, scores.dtype)
        np.subtract(scores, scores[rows, y][:, None], out=margins)
        margins += self.margin
        margins[rows, y] = 0.0  # the true class is not its own competitor
        active = self._buffer("active", scores.shape, scores.dtype)
        np.greater(margins, 0, out=active)
        np.maximum(margins, 0, out=margins)
        self._active, self._y = active, y
        return float(margins.sum() / len(y))

    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:
        active, y = self._cached(self._active), self._cached(self._y)
        dscores = self._buffer("dscores", active.shape, active.dtype)
        np.multiply(active, dout / len(y), out=dscores)
        dscores[np.arange(len(y)), y] = -dscores.sum(axis=1)
        return dscores, None

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        scores, y = inputs
        per_sample = g.add(Divide(), dout, g.add(Count(axis=0), scores))
        slope = g.add(HingeSlope(self.margin), scores, y)
        return g.add(Multiply(), slope, per_sample), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (scores, y), (t, _) = inputs, tangents
        dot = g.add(Sum(), g.add(Multiply(), g.add(HingeSlope(self.margin), scores, y), t))
        return g.add(Divide(), dot, g.add(Count(axis=0), scores))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        # classes 0.7 apart: every margin 1 + 0.7k is at least 0.3 from the kink at 0
        gaps = np.stack([rng.permutation(4) for _ in range(5)]) * 0.7
        scores = gaps + rng.standard_normal((5, 1))
        return cls(), (scores, rng.integers(0, 4, 5))


@LAYERS.register("hinge_slope")
class HingeSlope(ConstantGate):
    """out = N · dL/dscores / dout of the SVM hinge loss: active_ij for j ≠ y_i and -Σ_j active_ij
    at j = y_i, with active_ij = [s_ij - s_i,y_i + margin > 0].  scores: (N, C), y: (N,) class
    ids (float ids are rounded: a gradient check's nudge changes nothing), out: (N, C).
    Piecewise constant in the scores: its own gradient is zero.
    """

    n_inputs = 2
    shape_inputs = ()  # it reads both inputs' values

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = check_number("HingeSlope", "margin", margin, low=0.0)

    def forward(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = check_labels(np.rint(y) if np.asarray(y).dtype.kind == "f" else y, scores, "HingeSlope")
        rows = np.arange(len(y))
        margins = scores - scores[rows, y][:, None] + self.margin
        margins[rows, y] = 0.0
        out = (margins > 0).astype(scores.dtype)
        out[rows, y] = -out.sum(axis=1)
        self._shapes = scores.shape, np.shape(y)
        return out

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        scores, y = SVMHinge.example(rng)[1]
        return cls(), (scores, y.astype(np.float64))  # float64 class ids, as every gate's
