"""Binary cross-entropy on logits, fused with its sigmoid."""

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import Adjoints, Builder, Layer
from gategraph.layers.elementwise import Divide, Multiply, Subtract
from gategraph.layers.shape import Count, ReshapeLike, Sum
from gategraph.layers.sigmoid import Sigmoid
from gategraph.losses.base import LOSSES, Loss


@LOSSES.register("sigmoid_bce")
class SigmoidBCE(Loss):
    """L = mean_i [ -y_i log σ(s_i) - (1 - y_i) log(1 - σ(s_i)) ]
         = mean_i [ max(s_i, 0) - s_i y_i + log(1 + exp(-|s_i|)) ].
    scores: (N,) or (N, 1) logits; y: (N,) (or the scores' shape) labels 0 or 1.

    The second form never exponentiates a positive number: exact and finite at logits ±1000.
    Backward: dscores = dout * (σ(s) - y) / N, with σ(s) = 1 / (1 + e) for s >= 0 and
    e / (1 + e) for s < 0, where e = exp(-|s|) <= 1.
    """

    _probs: np.ndarray | None = None  # σ(s) at the last forward
    _y: np.ndarray | None = None  # labels shaped like the scores

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        y = _check_binary_labels(np.asarray(y), scores)
        e = np.abs(scores, out=self._buffer("e", scores.shape, scores.dtype))
        np.negative(e, out=e)
        np.exp(e, out=e)
        terms = np.log1p(e, out=self._buffer("terms", scores.shape, scores.dtype))
        terms += np.maximum(scores, 0)
        terms -= scores * y
        probs = self._buffer("probs", scores.shape, scores.dtype)
        np.divide(np.where(scores >= 0, 1.0, e), 1.0 + e, out=probs)
        self._probs, self._y = probs, y
        return float(terms.mean())

    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:
        probs, y = self._cached(self._probs), self._cached(self._y)
        dscores = np.subtract(probs, y, out=self._buffer("dscores", probs.shape, probs.dtype))
        dscores *= dout / probs.size
        return dscores, None

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        scores, y = inputs
        per_element = g.add(Divide(), dout, g.add(Count(), scores))
        return g.add(Multiply(), _residual(g, scores, y), per_element), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (scores, y), (t, _) = inputs, tangents
        dot = g.add(Sum(), g.add(Multiply(), _residual(g, scores, y), t))
        return g.add(Divide(), dot, g.add(Count(), scores))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((6, 1)), rng.integers(0, 2, 6))


def _check_binary_labels(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Labels as 0.0 / 1.0 in the scores' shape, or a ValueError naming the bad shape or value."""
    if scores.ndim not in (1, 2) or scores.ndim == 2 and scores.shape[1] != 1:
        raise ValueError(f"SigmoidBCE expects scores of shape (N,) or (N, 1), got {scores.shape}")
    if y.shape not in ((len(scores),), scores.shape):
        raise ValueError(
            f"SigmoidBCE expects one label per score: y of shape ({len(scores)},), got {y.shape}"
        )
    if y.dtype.kind not in "biuf":
        raise TypeError(f"SigmoidBCE expects labels 0 or 1, got dtype {y.dtype}")
    bad = y[(y != 0) & (y != 1)]
    if bad.size:
        raise ValueError(f"SigmoidBCE expects labels 0 or 1, got {bad[0].item()!r}")
    return y.reshape(scores.shape).astype(scores.dtype, copy=False)


def _residual(g: Builder, scores: str, y: str) -> str:
    """σ(s) - y, as nodes: K times the gradient of the mean loss."""
    return g.add(Subtract(), g.add(Sigmoid(), scores), g.add(ReshapeLike(), y, scores))
