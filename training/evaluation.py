"""Evaluation and prediction in eval mode, batched: loss, accuracy, labels, confusion matrix."""

import numpy as np

from gategraph.losses.base import Loss
from gategraph.models.sequential import Model

Pair = tuple[np.ndarray, np.ndarray]


def evaluate(
    model: Model, loss: Loss, X: np.ndarray, y: np.ndarray, *, batch_size: int = 1024
) -> dict[str, float | None]:
    """{"loss": mean data loss, "acc": accuracy (None unless y holds integer class ids)},
    in eval mode without caches, `batch_size` rows at a time (weighted by batch size)."""
    check_pair("evaluate", (X, y))
    total, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        scores = model.predict(xb)
        total += loss.forward(scores, yb) * len(xb)
        correct += int(np.count_nonzero(labels_of(scores) == yb))
    loss.clear_cache()
    accuracy = correct / len(X) if y.dtype.kind in "iu" else None
    return {"loss": total / len(X), "acc": accuracy}


def predict(model: Model, X: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """Scores for every row of X, in eval mode without caches, `batch_size` rows at a time."""
    if len(X) == 0:
        raise ValueError(f"predict needs at least one sample, got X of shape {np.shape(X)}")
    return np.concatenate(
        [model.predict(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
    )


def labels_of(scores: np.ndarray) -> np.ndarray:
    """Predicted class ids (N,): argmax over classes, or scores > 0 for one output column."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(axis=1)
    return (scores.reshape(len(scores)) > 0).astype(np.intp)


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of true class i predicted as class j.  (C, C) ints."""
    if len(y) and (y.min() < 0 or max(y.max(), predicted.max()) >= n_classes):
        raise ValueError(
            f"confusion_matrix needs class ids in [0, {n_classes}), got labels "
            f"{int(y.min())}..{int(max(y.max(), predicted.max()))}"
        )
    flat = np.asarray(y, np.intp) * n_classes + np.asarray(predicted, np.intp)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def count_correct(scores: np.ndarray, y: np.ndarray, pred: np.ndarray, hits: np.ndarray) -> int:
    """Correct predictions in a training batch, through the reused `pred` and `hits` buffers."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        np.equal(np.argmax(scores, axis=1, out=pred), y, out=hits)
    else:
        np.equal(np.greater(scores.reshape(len(y)), 0, out=hits), y, out=hits)
    return int(np.count_nonzero(hits))


def check_pair(name: str, pair: Pair) -> None:
    """X and y are NumPy arrays with the same, nonzero number of rows."""
    X, y = pair
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(
            f"{name} data must be NumPy arrays (X, y), got {type(X).__name__}, {type(y).__name__}"
        )
    if len(X) == 0:
        raise ValueError(f"{name} data is empty: X has shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"{name} data: X has {len(X)} rows but y has {len(y)}")
