"""check_labels: integer class ids in [0, C), one per row, or an error naming the bad value."""

import numpy as np
import pytest

from gategraph.losses.base import check_labels

SCORES = np.zeros((3, 3))


def test_integer_ids_pass_through() -> None:
    np.testing.assert_array_equal(check_labels(np.array([0, 2, 1]), SCORES, "Loss"), [0, 2, 1])


def test_integral_floats_become_integer_ids() -> None:
    y = check_labels(np.array([0.0, 2.0, 1.0]), SCORES, "Loss")
    assert y.dtype.kind == "i"
    np.testing.assert_array_equal(y, [0, 2, 1])


@pytest.mark.parametrize(
    ("y", "message"),
    [
        ([0, 7, 1], r"SoftmaxCrossEntropy expects class ids in \[0, 3\), got 7"),
        ([0, -1, 1], r"SoftmaxCrossEntropy expects class ids in \[0, 3\), got -1"),
        (
            [0.0, 1.5, 1.0],
            r"SoftmaxCrossEntropy expects integer class ids, got 1.5 \(dtype float64\)",
        ),
        (
            [0.0, np.nan, 1.0],
            r"SoftmaxCrossEntropy expects integer class ids, got nan \(dtype float64\)",
        ),
        (
            [[0], [1], [2]],
            r"SoftmaxCrossEntropy expects one label per row: y of shape \(3,\), got \(3, 1\)",
        ),
        ([0, 1], r"SoftmaxCrossEntropy expects one label per row: y of shape \(3,\), got \(2,\)"),
    ],
)
def test_bad_labels_are_named(y: list, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_labels(np.array(y), SCORES, "SoftmaxCrossEntropy")


def test_scores_must_be_a_matrix() -> None:
    with pytest.raises(ValueError, match=r"^Loss expects scores of shape \(N, C\), got \(3,\)$"):
        check_labels(np.array([0, 1, 2]), np.zeros(3), "Loss")


@pytest.mark.parametrize(
    ("y", "shown"),
    [
        (np.array([0.0, 1e20, 1.0]), "100000000000000000000"),
        (np.array([0.0, -1e20, 1.0]), "-100000000000000000000"),
        (np.array([0, 2**63 + 5, 1], np.uint64), "9223372036854775813"),
    ],
)
def test_ids_beyond_int64_are_named_not_wrapped(y: np.ndarray, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^Loss expects class ids in \[0, 3\), got {shown}$"):
        check_labels(y, SCORES, "Loss")
