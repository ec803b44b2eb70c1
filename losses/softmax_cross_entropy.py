"""Softmax cross-entropy: the softmax classifier's loss, fused with its softmax."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import Adjoints, Builder, Layer
from gategraph.layers.elementwise import Divide, Multiply, Subtract
from gategraph.layers.shape import Count, OneHot, Sum
from gategraph.layers.softmax import Softmax
from gategraph.losses.base import LOSSES, Loss, check_labels


@LOSSES.register("softmax_cross_entropy")
class SoftmaxCrossEntropy(Loss):
    """L = -mean_i log p_i,y_i with p = softmax(s).  scores s: (N, C), y: (N,) ints in [0, C).

    p_ij = exp(s_ij - m_i) / Σ_j exp(s_ij - m_i), m_i = max_j s_ij, and
    log p_i,y_i = (s_i,y_i - m_i) - log Σ_j exp(s_ij - m_i): the log-sum-exp shift keeps every
    exp <= 1, exact and finite for logits [1000, 0, -1000].
    Backward: dscores = dout * (p - onehot(y)) / N; the labels get no gradient.
    """

    _probs: np.ndarray | None = None  # softmax of the last scores
    _y: np.ndarray | None = None  # the last labels

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        y = check_labels(y, scores, "SoftmaxCrossEntropy")
        shifted = scores - scores.max(axis=1, keepdims=True)  # stability shift: exp <= 1
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        self._probs, self._y = exp / sums, y
        log_p = shifted[np.arange(len(y)), y] - np.log(sums[:, 0])  # log p_i,y_i
        return float(-np.sum(log_p)) / len(y)

    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:
        probs, y = self._cached(self._probs), self._cached(self._y)
        dscores = probs.copy()
        dscores[np.arange(len(y)), y] -= 1
        dscores *= dout / len(y)
        return dscores, None

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        scores, y = inputs
        per_sample = g.add(Divide(), dout, g.add(Count(axis=0), scores))
        return g.add(Multiply(), _residual(g, scores, y), per_sample), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (scores, y), (t, _) = inputs, tangents
        dot = g.add(Sum(), g.add(Multiply(), _residual(g, scores, y), t))
        return g.add(Divide(), dot, g.add(Count(axis=0), scores))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((5, 4)), rng.integers(0, 4, 5))


def _residual(g: Builder, scores: str, y: str) -> str:
    """softmax(s) - onehot(y), as nodes: N times the gradient of the mean loss."""
    return g.add(Subtract(), g.add(Softmax(), scores), g.add(OneHot(), y, scores))
