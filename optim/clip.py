"""Global gradient-norm clipping of a flat gradient buffer, as torch.nn.utils.clip_grad_norm_."""

import math

import numpy as np

from gategraph.core.checks import check_number


def clip_grad_norm(grads: np.ndarray, max_norm: float) -> float:
    """norm = ‖grads‖₂ over all params;  grads *= max_norm / (norm + 1e-6) when that is < 1.

    `grads` is the optimizer's flat grad buffer, scaled in place. Returns the norm before
    clipping; a non-finite norm (a NaN or inf gradient) is returned with grads left untouched,
    for the caller to report.
    """
    if not isinstance(grads, np.ndarray):
        raise TypeError(f"clip_grad_norm needs grads as a NumPy array, got {type(grads).__name__}")
    check_number("clip_grad_norm", "max_norm", max_norm, low=0.0, low_open=True)
    norm = _norm(grads)
    coef = max_norm / (norm + 1e-6)
    if math.isfinite(norm) and coef < 1.0:
        grads *= coef
    return norm


def _norm(grads: np.ndarray) -> float:
    with np.errstate(over="ignore"):
        norm = math.sqrt(float(np.dot(grads, grads)))
    if math.isinf(norm) and grads.dtype != np.float64:  # Σ g² overflowed (float32 past ~1e19)
        wide = grads.astype(np.float64)  # rare path: the copy buys the finite norm
        norm = math.sqrt(float(np.dot(wide, wide)))
    return norm
