"""Softmax cross-entropy: the softmax classifier's loss, fused with its softmax."""

import numpy as np
from numpy.random import Generator

from layers.base import Layer
from losses.base import LOSSES, Loss, check_labels


@LOSSES.register("softmax_cross_entropy")
class SoftmaxCrossEntropy(Loss):
    """L = mean_i [ log Σ_j exp(s_ij) - s_i,y_i ].  scores: (N, C), y: (N,) ints in [0, C).

    Computed with the log-sum-exp shift (s - max_j s), exact and finite for logits like
    [1000, 0, -1000]. Backward: dscores = dout * (softmax(s) - onehot(y)) / N.
    """

    _probs: np.ndarray | None = None  # softmax of the last scores
    _y: np.ndarray | None = None
    _row_ids: np.ndarray = np.arange(0)  # 0..N-1 for picking each row's label, kept per N

    def _rows(self, n: int) -> np.ndarray:
        if len(self._row_ids) != n:
            self._row_ids = np.arange(n)
        return self._row_ids

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        y = check_labels(y, scores, "SoftmaxCrossEntropy")
        shifted = self._buffer("shifted", scores.shape, scores.dtype)
        top = np.maximum.reduce(scores, axis=1, keepdims=True)
        np.subtract(scores, top, out=shifted)  # stability shift: exp never overflows
        probs = self._buffer("probs", scores.shape, scores.dtype)
        np.exp(shifted, out=probs)
        sums = np.dot(probs, self._ones(scores.shape[1], scores.dtype))  # Σ_j exp, one GEMV
        probs /= sums[:, None]
        losses = np.log(sums, out=sums)  # log Σ_j exp(s_ij - max) - (s_iy - max), per row
        losses -= shifted[self._rows(len(y)), y]
        self._probs, self._y = probs, y
        return float(np.dot(losses, self._ones(len(y), losses.dtype))) / len(y)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        probs, y = self._cached(self._probs), self._cached(self._y)
        scale = dout / len(y)
        dscores = np.multiply(probs, scale, out=self._buffer("dscores", probs.shape, probs.dtype))
        dscores[self._rows(len(y)), y] -= scale
        return dscores

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((5, 4)), rng.integers(0, 4, 5))
