"""Seeded toy classification datasets: spiral, moons, circles, blobs, xor.

Each returns X float64 (N, D) and y int64 (N,), rows grouped by class, class sizes within one of
each other (lower class ids get the extra samples). The same Generator state gives the same
arrays bit for bit; `split` and `minibatches` do the shuffling.
"""

from collections.abc import Sequence

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_int, check_number


def spiral(
    n_per_class: int = 100, classes: int = 3, noise: float = 0.2, *, rng: Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The CS231n spiral. Class j: r = linspace(0, 1, n), t = linspace(4j, 4(j+1), n) +
    noise * randn(n), x = (r sin t, r cos t).  X: (classes * n_per_class, 2), y: same N."""
    n = check_int("spiral", "n_per_class", n_per_class, low=1)
    C = check_int("spiral", "classes", classes, low=2)
    noise = check_number("spiral", "noise", noise, low=0.0)
    X = np.empty((C * n, 2))
    r = np.linspace(0.0, 1.0, n)
    for j in range(C):
        t = np.linspace(4.0 * j, 4.0 * (j + 1), n) + noise * rng.standard_normal(n)
        X[j * n : (j + 1) * n] = np.column_stack([r * np.sin(t), r * np.cos(t)])
    return X, _labels(np.full(C, n))


def moons(
    n_samples: int = 200, noise: float = 0.1, *, rng: Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles of radius 1 (as scikit-learn's make_moons), plus
    noise * randn.  Class 0: (cos t, sin t), class 1: (1 - cos t, 0.5 - sin t), t in [0, pi].
    X: (n_samples, 2), y: (n_samples,)."""
    n = check_int("moons", "n_samples", n_samples, low=2)
    noise = check_number("moons", "noise", noise, low=0.0)
    sizes = _class_sizes(n, 2)
    t0, t1 = (np.linspace(0.0, np.pi, size) for size in sizes)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.concatenate([upper, lower])
    return X + noise * rng.standard_normal(X.shape), _labels(sizes)


def circles(
    n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, *, rng: Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles centred at 0 (as scikit-learn's make_circles), plus noise * randn.
    Class 0 on radius 1, class 1 on radius `factor` (0 <= factor < 1), angles evenly spaced in
    [0, 2 pi).  X: (n_samples, 2), y: (n_samples,)."""
    n = check_int("circles", "n_samples", n_samples, low=2)
    noise = check_number("circles", "noise", noise, low=0.0)
    factor = check_number("circles", "factor", factor, low=0.0, high=1.0, high_open=True)
    sizes = _class_sizes(n, 2)
    rings = []
    for radius, size in zip((1.0, factor), sizes, strict=True):
        t = np.linspace(0.0, 2 * np.pi, size, endpoint=False)
        rings.append(radius * np.column_stack([np.cos(t), np.sin(t)]))
    X = np.concatenate(rings)
    return X + noise * rng.standard_normal(X.shape), _labels(sizes)


def blobs(
    n_samples: int = 200,
    centers: int = 3,
    n_features: int = 2,
    cluster_std: float = 1.0,
    center_box: Sequence[float] = (-10.0, 10.0),
    *,
    rng: Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs: centres c_k ~ uniform(center_box) per feature, then
    x = c_y + cluster_std * randn(n_features).  X: (n_samples, n_features), y: (n_samples,)."""
    C = check_int("blobs", "centers", centers, low=2)
    n = check_int("blobs", "n_samples", n_samples, low=C)
    D = check_int("blobs", "n_features", n_features, low=1)
    std = check_number("blobs", "cluster_std", cluster_std, low=0.0)
    low, high = _check_box(center_box)
    middles = rng.uniform(low, high, (C, D))
    y = _labels(_class_sizes(n, C))
    return middles[y] + std * rng.standard_normal((n, D)), y


def xor(
    n_samples: int = 200, noise: float = 0.0, *, rng: Generator
) -> tuple[np.ndarray, np.ndarray]:
    """XOR of signs: x uniform in the four unit squares around 0, then + noise * randn;
    y = 1 where x0 and x1 had opposite signs. Class 0 alternates between quadrants (+, +) and
    (-, -), class 1 between (+, -) and (-, +).  X: (n_samples, 2), y: (n_samples,)."""
    n = check_int("xor", "n_samples", n_samples, low=2)
    noise = check_number("xor", "noise", noise, low=0.0)
    sizes = _class_sizes(n, 2)
    y = _labels(sizes)
    sign0 = np.concatenate([1.0 - 2.0 * (np.arange(size) % 2) for size in sizes])
    signs = np.column_stack([sign0, sign0 * (1.0 - 2.0 * y)])
    X = signs * rng.uniform(0.0, 1.0, (n, 2))
    return X + noise * rng.standard_normal(X.shape), y


def _class_sizes(n: int, classes: int) -> np.ndarray:
    """Sizes of `classes` groups summing to n, within one of each other, larger ones first."""
    return n // classes + (np.arange(classes) < n % classes)


def _labels(sizes: np.ndarray) -> np.ndarray:
    """0 repeated sizes[0] times, then 1 repeated sizes[1] times, ...: int64 (sum(sizes),)."""
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def _check_box(center_box: Sequence[float]) -> tuple[float, float]:
    if isinstance(center_box, str | bytes) or not isinstance(center_box, Sequence):
        raise TypeError(f"blobs needs center_box as (low, high), got {center_box!r}")
    if len(center_box) != 2:
        raise ValueError(f"blobs needs center_box as (low, high), got {list(center_box)}")
    low = check_number("blobs", "center_box low", center_box[0])
    high = check_number("blobs", "center_box high", center_box[1])
    if not low < high:
        raise ValueError(f"blobs needs center_box (low, high) with low < high, got {low}, {high}")
    return low, high
