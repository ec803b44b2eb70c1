"""Toy generators: shapes, dtypes, determinism, balance, geometry, option errors."""

from collections.abc import Callable

import numpy as np
import pytest

from gategraph.data.toy import blobs, circles, moons, spiral, xor

GENERATORS: dict[str, tuple[Callable, dict, int, int]] = {  # fn, options, N, D
    "spiral": (spiral, {"n_per_class": 7, "classes": 4}, 28, 2),
    "moons": (moons, {"n_samples": 31}, 31, 2),
    "circles": (circles, {"n_samples": 31}, 31, 2),
    "blobs": (blobs, {"n_samples": 31, "centers": 4, "n_features": 5}, 31, 5),
    "xor": (xor, {"n_samples": 31, "noise": 0.1}, 31, 2),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_shapes_dtypes_and_balanced_classes(name: str) -> None:
    fn, options, N, D = GENERATORS[name]
    X, y = fn(**options, rng=np.random.default_rng(0))
    assert X.shape == (N, D) and X.dtype == np.float64
    assert y.shape == (N,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("name", GENERATORS)
def test_same_seed_same_arrays_other_seed_other_arrays(name: str) -> None:
    fn, options, _, _ = GENERATORS[name]
    X0, y0 = fn(**options, rng=np.random.default_rng(3))
    X1, y1 = fn(**options, rng=np.random.default_rng(3))
    X2, _ = fn(**options, rng=np.random.default_rng(4))
    assert np.array_equal(X0, X1) and np.array_equal(y0, y1)
    assert not np.allclose(X0, X2)


def test_spiral_first_points_by_hand() -> None:
    # default_rng(0).standard_normal(5)[1] = -0.13210486; class 0, point 1: r = 1/4,
    # t = 1 + 0.2 * (-0.13210486) = 0.97357903, x = (r sin t, r cos t)
    X, y = spiral(5, 3, 0.2, rng=np.random.default_rng(0))
    assert np.array_equal(X[[0, 5, 10]], np.zeros((3, 2)))  # r = 0 for every class
    assert np.allclose(X[1], [0.20672591, 0.14058591], atol=1e-8)
    assert y.tolist() == [0] * 5 + [1] * 5 + [2] * 5


def test_spiral_without_noise_ends_on_the_unit_circle_at_4_per_class() -> None:
    X, _ = spiral(5, 3, 0.0, rng=np.random.default_rng(0))
    assert np.allclose(X[4], [np.sin(4.0), np.cos(4.0)])  # class 0: r = 1, t = 4
    assert np.allclose(X[9], [np.sin(8.0), np.cos(8.0)])  # class 1: r = 1, t = 8
    assert np.allclose(X[7], [0.5 * np.sin(6.0), 0.5 * np.cos(6.0)])  # r = 1/2, t = 6


def test_moons_without_noise_lie_on_their_half_circles() -> None:
    X, y = moons(41, 0.0, rng=np.random.default_rng(0))
    upper, lower = X[y == 0], X[y == 1]
    assert np.allclose(np.hypot(*upper.T), 1.0) and np.all(upper[:, 1] >= 0)
    assert np.allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert np.all(lower[:, 1] <= 0.5 + 1e-15)
    assert np.allclose(upper[[0, -1]], [[1, 0], [-1, 0]])
    assert np.allclose(lower[[0, -1]], [[0, 0.5], [2, 0.5]])


def test_circles_inner_radius_is_factor() -> None:
    X, y = circles(40, 0.0, 0.3, rng=np.random.default_rng(0))
    radius = np.hypot(*X.T)
    assert np.allclose(radius[y == 0], 1.0) and np.allclose(radius[y == 1], 0.3)
    assert np.allclose(X[0], [1, 0]) and np.allclose(X[20], [0.3, 0])
    noisy, y = circles(2000, 0.05, 0.3, rng=np.random.default_rng(0))
    assert abs(np.hypot(*noisy[y == 1].T).mean() - 0.3) < 0.01


def test_blobs_without_spread_sit_on_centres_inside_the_box() -> None:
    X, y = blobs(9, 3, 4, 0.0, (2.0, 5.0), rng=np.random.default_rng(0))
    for c in range(3):
        assert np.array_equal(X[y == c], np.repeat(X[y == c][:1], 3, axis=0))
    assert np.all((X >= 2.0) & (X < 5.0))
    assert len(np.unique(X, axis=0)) == 3


def test_blobs_spread_is_cluster_std() -> None:
    X, y = blobs(6000, 2, 2, 0.5, rng=np.random.default_rng(0))
    assert np.allclose(X[y == 1].std(axis=0), 0.5, atol=0.03)


def test_xor_label_is_sign_disagreement_with_all_quadrants_used() -> None:
    X, y = xor(40, rng=np.random.default_rng(0))
    assert np.array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    assert np.all(np.abs(X) < 1)
    quadrant = 2 * (X[:, 0] > 0) + (X[:, 1] > 0)
    assert np.bincount(quadrant).tolist() == [10, 10, 10, 10]


@pytest.mark.parametrize(
    ("fn", "options", "error", "message"),
    [
        (spiral, {"classes": 1}, ValueError, "spiral needs classes >= 2, got 1"),
        (
            spiral,
            {"n_per_class": 2.5},
            TypeError,
            "spiral needs n_per_class to be an integer, got 2.5 \\(float\\)",
        ),
        (
            spiral,
            {"n_per_class": True},
            TypeError,
            "spiral needs n_per_class to be an integer, got True \\(bool\\)",
        ),
        (moons, {"noise": -0.1}, ValueError, "moons needs noise >= 0, got -0.1"),
        (moons, {"noise": float("nan")}, ValueError, "moons needs noise >= 0, got nan"),
        (moons, {"n_samples": 1}, ValueError, "moons needs n_samples >= 2, got 1"),
        (circles, {"factor": 1.0}, ValueError, "circles needs 0 <= factor < 1, got 1.0"),
        (
            circles,
            {"noise": "0.1"},
            TypeError,
            "circles needs noise to be a number, got '0.1' \\(str\\)",
        ),
        (blobs, {"n_samples": 2}, ValueError, "blobs needs n_samples >= 3, got 2"),
        (
            blobs,
            {"center_box": (5, 5)},
            ValueError,
            "blobs needs center_box \\(low, high\\) with low < high, got 5.0, 5.0",
        ),
        (
            blobs,
            {"center_box": (1, 2, 3)},
            ValueError,
            r"blobs needs center_box as \(low, high\), got \[1, 2, 3\]",
        ),
        (
            blobs,
            {"center_box": "ab"},
            TypeError,
            r"blobs needs center_box as \(low, high\), got 'ab'",
        ),
        (blobs, {"cluster_std": float("inf")}, ValueError, "blobs needs cluster_std >= 0, got inf"),
        (xor, {"n_samples": 1}, ValueError, "xor needs n_samples >= 2, got 1"),
    ],
)
def test_bad_options_raise_naming_the_option(
    fn: Callable, options: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=f"^{message}$"):
        fn(**options, rng=np.random.default_rng(0))
