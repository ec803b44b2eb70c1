"""Stratified split (exact counts, determinism, validation) and the Standardizer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gategraph.data.splits import Splits, Standardizer, split


def ids_and_labels(sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """X = row ids as a (N, 1) column, y = class c repeated sizes[c] times."""
    y = np.repeat(np.arange(len(sizes)), sizes)
    return np.arange(len(y), dtype=np.float64)[:, None], y


def counts(splits: Splits, classes: int) -> list[list[int]]:
    return [np.bincount(part[1], minlength=classes).tolist() for part in splits]


def test_stratified_counts_by_hand() -> None:
    # per class: n_val = floor(0.3 n + 1/2), n_test = floor(0.2 n + 1/2), train keeps >= 1
    # n=10: 3, 2 -> train 5.  n=5: 0.3*5 = 1.5 rounds up to 2, 0.2*5 = 1 -> train 2.
    # n=2: 0.6 -> 1 and 0.4 -> 0, train 1.  n=1: 0.3 -> 0, 0.2 -> 0, train 1.
    X, y = ids_and_labels([10, 5, 2, 1])
    parts = split(X, y, 0.3, 0.2, rng=np.random.default_rng(0))
    assert counts(parts, 4) == [[5, 2, 1, 1], [3, 2, 1, 0], [2, 1, 0, 0]]


def test_val_then_test_give_back_so_every_class_keeps_a_training_sample() -> None:
    # n=2 with 0.25 + 0.25: both round to 1, leaving no train; val gives its one back.
    # val 0.45, test 0.5: n=2 rounds to 1 + 1, val gives back; n=1 rounds to 0 + 1, test gives back.
    X, y = ids_and_labels([2, 1])
    assert counts(split(X, y, 0.25, 0.25, rng=np.random.default_rng(0)), 2) == [
        [1, 1],
        [0, 0],
        [1, 0],
    ]
    assert counts(split(X, y, 0.45, 0.5, rng=np.random.default_rng(0)), 2) == [
        [1, 1],
        [0, 0],
        [1, 0],
    ]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=5),
    val=st.floats(0.0, 0.6),
    test=st.floats(0.0, 0.39),
)
def test_any_split_keeps_a_training_sample_per_class_and_rounds_each_fraction(
    sizes: list[int], val: float, test: float
) -> None:
    X, y = ids_and_labels(sizes)
    train, val_counts, test_counts = counts(
        split(X, y, val, test, rng=np.random.default_rng(0)), len(sizes)
    )
    for n, n_train, n_val, n_test in zip(sizes, train, val_counts, test_counts, strict=True):
        assert n_train >= 1 and n_train + n_val + n_test == n
        if n_train > 1:  # nothing was given back: each count is its fraction rounded half up
            assert n_val == np.floor(val * n + 0.5) and n_test == np.floor(test * n + 0.5)


def test_every_row_lands_in_exactly_one_split_in_original_order() -> None:
    X, y = ids_and_labels([17, 23, 9])
    parts = split(X, y, 0.2, 0.1, rng=np.random.default_rng(1))
    ids = np.concatenate([part[0][:, 0] for part in parts])
    assert sorted(ids.tolist()) == list(range(49))
    for part_X, part_y in parts:
        assert np.all(np.diff(part_X[:, 0]) > 0)
        assert np.array_equal(part_y, y[part_X[:, 0].astype(int)])


def test_same_seed_same_split_other_seed_other_split() -> None:
    X, y = ids_and_labels([30, 30])
    first = split(X, y, 0.2, 0.2, rng=np.random.default_rng(7))
    again = split(X, y, 0.2, 0.2, rng=np.random.default_rng(7))
    other = split(X, y, 0.2, 0.2, rng=np.random.default_rng(8))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first.train[0], other.train[0])


def test_zero_fractions_give_empty_val_and_test_of_the_right_shape() -> None:
    X, y = np.ones((6, 3), np.float32), np.array([0, 1, 0, 1, 0, 1])
    parts = split(X, y, 0.0, 0.0, rng=np.random.default_rng(0))
    assert np.array_equal(parts.train[0], X) and np.array_equal(parts.train[1], y)
    assert parts.val[0].shape == (0, 3) and parts.val[0].dtype == np.float32
    assert parts.test[1].shape == (0,) and parts.test[1].dtype == y.dtype


@pytest.mark.parametrize(
    ("val", "test", "message"),
    [
        (1.0, 0.0, "split needs 0 <= val_fraction < 1, got 1.0"),
        (0.1, -0.1, "split needs 0 <= test_fraction < 1, got -0.1"),
        (0.5, 0.5, r"split needs val_fraction \+ test_fraction < 1, got 0.5 \+ 0.5"),
    ],
)
def test_bad_fractions(val: float, test: float, message: str) -> None:
    X, y = ids_and_labels([4, 4])
    with pytest.raises(ValueError, match=f"^{message}$"):
        split(X, y, val, test, rng=np.random.default_rng(0))


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match=r"^split needs X \(N, ...\) and y \(N,\), got X \(3, 2\)"):
        split(np.zeros((3, 2)), np.zeros(4, int), 0.1, 0.1, rng=np.random.default_rng(0))


def test_standardizer_uses_training_statistics_only() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal([5.0, -2.0], [3.0, 0.5], (200, 2))
    y = rng.integers(0, 2, 200)
    parts = split(X, y, 0.25, 0.0, rng=rng)
    scaler = Standardizer().fit(parts.train[0])
    train, val = scaler.transform(parts.train[0]), scaler.transform(parts.val[0])
    assert np.allclose(train.mean(axis=0), 0, atol=1e-12) and np.allclose(train.std(axis=0), 1)
    assert np.array_equal(scaler.mean, parts.train[0].mean(axis=0))
    expected = (parts.val[0] - parts.train[0].mean(axis=0)) / parts.train[0].std(axis=0)
    assert np.allclose(val, expected, rtol=0, atol=1e-13)
    assert not np.allclose(val.mean(axis=0), 0, atol=1e-3)  # val keeps its own offset


def test_standardizer_constant_features_map_to_zero() -> None:
    X = np.array([[0.1, 1.0, 7.0], [0.1, 3.0, 7.0], [0.1, 5.0, 7.0]])
    scaler = Standardizer().fit(X)
    assert scaler.std.tolist() == [1.0, np.sqrt(8 / 3), 1.0]
    out = scaler.transform(X)
    assert np.allclose(out[:, [0, 2]], 0, atol=1e-15) and np.all(np.isfinite(out))


def test_standardizer_restores_from_saved_arrays_and_keeps_float32() -> None:
    X = np.random.default_rng(0).random((10, 4))
    fitted = Standardizer().fit(X)
    restored = Standardizer(mean=fitted.mean.copy(), std=fitted.std.copy())
    assert np.array_equal(restored.transform(X), fitted.transform(X))
    assert fitted.transform(X.astype(np.float32)).dtype == np.float32
    assert fitted.transform(X.astype(np.int64)).dtype == np.float64


def test_standardizer_errors() -> None:
    with pytest.raises(RuntimeError, match="^Standardizer.transform called before fit$"):
        Standardizer().transform(np.zeros((2, 2)))
    fitted = Standardizer().fit(np.eye(3))
    with pytest.raises(
        ValueError, match=r"^Standardizer expects X of shape \(N, 3\), got \(2, 4\)$"
    ):
        fitted.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="needs a finite mean and a finite std > 0"):
        Standardizer(mean=np.zeros(2), std=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="needs both mean and std, or neither"):
        Standardizer(mean=np.zeros(2))
    with pytest.raises(ValueError, match=r"needs X of shape \(N, D\) with N >= 1, got \(0, 2\)"):
        Standardizer().fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="needs finite X"):
        Standardizer().fit(np.array([[1.0], [np.nan]]))
