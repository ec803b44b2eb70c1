"""Loss and the LOSSES registry: the gates that end a graph."""

import numpy as np

from gategraph.core.registry import Registry
from gategraph.layers.base import Layer


class Loss(Layer):
    """A gate that ends a graph: `forward(scores, y) -> float` (mean over the batch by
    default), `backward(dout=1.0) -> (dscores, None)`: like every gate with two inputs, one
    gradient per input, and the labels `y` get none.

    A loss reuses its buffers even outside a graph: its value is a float, and `dscores` is
    consumed by the model's backward at once; it stays valid until the loss's next forward.
    """

    n_inputs = 2
    reuse_buffers = True

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not define backward")


LOSSES: Registry[Loss] = Registry("loss")


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def check_labels(y: np.ndarray, scores: np.ndarray, who: str) -> np.ndarray:
    """Validate class labels: one integer id in [0, C) per row of `scores` (N, C)."""
    y = np.asarray(y)
    if scores.ndim != 2:
        raise ValueError(f"{who} expects scores of shape (N, C), got {scores.shape}")
    if y.ndim != 1 or len(y) != len(scores):
        raise ValueError(
            f"{who} expects one label per row: y of shape ({len(scores)},), got {y.shape}"
        )
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{who} expects integer class ids, got dtype {y.dtype}")
    C = scores.shape[1]
    if y.dtype.kind == "f":
        not_integral = ~np.isfinite(y) | (y != np.round(y))
        if np.any(not_integral):
            bad = y[not_integral][0].item()
            raise ValueError(f"{who} expects integer class ids, got {bad!r} (dtype {y.dtype})")
        if np.any(out_of_range := (y < 0) | (y >= C)):  # before the cast: 1e20 would wrap
            raise ValueError(f"{who} expects class ids in [0, {C}), got {y[out_of_range][0]:.0f}")
        y = y.astype(np.intp)
    # seen as unsigned, a negative id is huge: one reduction checks both bounds
    if len(y) and np.maximum.reduce(y.view(_UNSIGNED[y.itemsize])) >= C:
        bad = y[(y < 0) | (y >= C)][0]
        raise ValueError(f"{who} expects class ids in [0, {C}), got {int(bad)}")
    return y
