"""SigmoidBCE: values by hand and by the textbook formula, exact at ±1000, label checks."""

import numpy as np
import pytest

from gategraph.losses.sigmoid_bce import SigmoidBCE


def test_zero_logit_costs_log_two() -> None:
    loss = SigmoidBCE()
    assert loss.forward(np.array([0.0]), np.array([1])) == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_array_equal(loss.backward()[0], [-0.5])  # sigmoid(0) - 1


def test_matches_the_textbook_formula() -> None:
    scores, y = np.array([2.0, -1.0, 0.5, -3.0]), np.array([1, 0, 0, 1])
    p = 1 / (1 + np.exp(-scores))
    expected = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))
    loss = SigmoidBCE()
    assert loss.forward(scores, y) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(loss.backward()[0], (p - y) / 4, rtol=1e-14)


def test_exact_and_finite_at_large_logits() -> None:
    scores, y = np.array([1000.0, -1000.0, 1000.0, -1000.0]), np.array([1, 0, 0, 1])
    loss = SigmoidBCE()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss.forward(scores, y) == 500.0  # (0 + 0 + 1000 + 1000) / 4
        np.testing.assert_array_equal(loss.backward()[0], [0.0, 0.0, 0.25, -0.25])


def test_column_scores_keep_their_shape() -> None:
    loss = SigmoidBCE()
    scores = np.array([[0.0], [0.0]], np.float32)
    assert loss.forward(scores, np.array([True, False])) == pytest.approx(np.log(2.0), rel=1e-6)
    dscores = loss.backward()[0]
    assert dscores.shape == (2, 1) and dscores.dtype == np.float32
    np.testing.assert_array_equal(dscores, [[-0.25], [0.25]])
    assert loss.forward(scores, np.array([[1.0], [0.0]])) == pytest.approx(np.log(2.0), rel=1e-6)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0.0, 0.5, 1.0]), "SigmoidBCE expects labels 0 or 1, got 0.5"),
        (np.array([0, 1, 2]), "SigmoidBCE expects labels 0 or 1, got 2"),
        (np.array([0.0, np.nan, 1.0]), "SigmoidBCE expects labels 0 or 1, got nan"),
        (
            np.array([0, 1]),
            r"SigmoidBCE expects one label per score: y of shape \(3,\), got \(2,\)",
        ),
    ],
)
def test_bad_labels_are_named(y: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        SigmoidBCE().forward(np.zeros(3), y)


def test_several_columns_are_refused() -> None:
    message = r"^SigmoidBCE expects scores of shape \(N,\) or \(N, 1\), got \(3, 2\)$"
    with pytest.raises(ValueError, match=message):
        SigmoidBCE().forward(np.zeros((3, 2)), np.zeros(3))
