"""Stratified train/val/test splits and a Standardizer fitted on the training split."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Splits:
    """train, val, test as (X, y) pairs; val or test has 0 rows when its fraction is 0.
    Unpacks in that order: `train, val, test = split(...)`."""

    train: Pair
    val: Pair
    test: Pair

    def __iter__(self) -> Iterator[Pair]:
        return iter((self.train, self.val, self.test))


def split(
    X: np.ndarray, y: np.ndarray, val_fraction: float, test_fraction: float, *, rng: Generator
) -> Splits:
    """Stratified split: every class is split in the same proportions.

    For a class of n samples: n_test = floor(test_fraction * n + 1/2) and n_val =
    floor(val_fraction * n + 1/2) (round half up), then, while that leaves no training sample,
    val and then test give one back; the rest is train. So every class keeps at least one
    training sample. Membership is drawn with one `rng.permutation` per class (classes in
    increasing order); each split keeps the original row order.
    """
    val_fraction, test_fraction = _check_fractions(val_fraction, test_fraction)
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 1 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"split needs X (N, ...) and y (N,), got X {X.shape} and y {y.shape}")
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = _class_counts(len(members), val_fraction, test_fraction)
        parts[0].append(members[n_val + n_test :])
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val : n_val + n_test])
    train, val, test = (np.sort(np.concatenate(p or [np.empty(0, np.intp)])) for p in parts)
    return Splits((X[train], y[train]), (X[val], y[val]), (X[test], y[test]))


def _check_fractions(val_fraction: float, test_fraction: float) -> tuple[float, float]:
    val = check_number("split", "val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    test = check_number("split", "test_fraction", test_fraction, low=0.0, high=1.0, high_open=True)
    if val + test >= 1:
        raise ValueError(f"split needs val_fraction + test_fraction < 1, got {val} + {test}")
    return val, test


def _class_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(n_val, n_test) for a class of n samples, leaving at least one for train."""
    n_val = int(np.floor(val_fraction * n + 0.5))
    n_test = int(np.floor(test_fraction * n + 0.5))
    while n_val + n_test > n - 1 and n_val:
        n_val -= 1
    while n_val + n_test > n - 1 and n_test:
        n_test -= 1
    return n_val, n_test


@dataclass(eq=False)
class Standardizer:
    """x' = (x - mean) / std per feature, with mean and std of the training split.

    mean, std: (D,) float64 (save them in a checkpoint; `Standardizer(mean, std)` restores).
    A feature whose training values are all equal gets std 1, so it maps to 0, not to inf.
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ValueError("Standardizer needs both mean and std, or neither")
        if self.mean is not None:
            self.mean, self.std = _checked_stats(self.mean, self.std)

    def fit(self, X: np.ndarray) -> Self:
        """Learn mean and std of X (N, D) (the training split only); returns self."""
        X = np.asarray(X)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"Standardizer.fit needs X of shape (N, D) with N >= 1, got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("Standardizer.fit needs finite X, got NaN or Inf")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: refused below
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            constant = np.ptp(X, axis=0) == 0
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            j = int(np.flatnonzero(~np.isfinite(mean) | ~np.isfinite(std))[0])
            raise ValueError(
                f"Standardizer.fit: feature {j} overflows float64 (values up to "
                f"{np.abs(X[:, j]).max():.3g}): its mean or std is not finite; rescale the data"
            )
        self.mean = mean
        self.std = np.where(constant, 1.0, std)  # exact: rounding makes std ~1e-17
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) / std, X (N, D); float32 stays float32, anything else becomes float64."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.transform called before fit")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(
                f"Standardizer expects X of shape (N, {len(self.mean)}), got {X.shape}"
            )
        dtype = X.dtype if X.dtype == np.float32 else np.float64
        return ((X - self.mean) / self.std).astype(dtype, copy=False)


def _checked_stats(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    if mean.ndim != 1 or std.shape != mean.shape:
        raise ValueError(
            f"Standardizer needs mean and std of one shape (D,), got {mean.shape}, {std.shape}"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError("Standardizer needs a finite mean and a finite std > 0")
    return mean, std
