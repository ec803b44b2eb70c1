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

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        y = check_labels(y, scores, "SoftmaxCrossEntropy")
        shifted = self._buffer("shifted", scores.shape, scores.dtype)
        np.subtract(scores, scores.max(axis=1, keepdims=True), out=shifted)  # stability shift
        probs = self._buffer("probs", scores.shape, scores.dtype)
        np.exp(shifted, out=probs)
        sums = probs.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, y]))
        probs /= sums
        self._probs, self._y = probs, y
        return loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        probs, y = self._cached(self._probs), self._cached(self._y)
        dscores = self._buffer("dscores", probs.shape, probs.dtype)
        np.copyto(dscores, probs)
        dscores[np.arange(len(y)), y] -= 1.0
        dscores *= dout / len(y)
        return dscores

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((5, 4)), rng.integers(0, 4, 5))
