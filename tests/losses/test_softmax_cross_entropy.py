"""SoftmaxCrossEntropy: a small case by hand, exact at logits ±1000, backward by hand."""

import numpy as np
import pytest

from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy


def test_uniform_scores_cost_log_c() -> None:
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.zeros((2, 3)), np.array([0, 2])) == pytest.approx(np.log(3), rel=1e-15)
    np.testing.assert_allclose(
        loss.backward()[0], np.array([[-2, 1, 1], [1, 1, -2]]) / 6, rtol=1e-15
    )


def test_small_case_by_hand() -> None:
    # log(e + e² + e³) - 3 = log(1 + e⁻¹ + e⁻²) = log(1.5032147244...) = 0.4076059644...
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.array([[1.0, 2.0, 3.0]]), np.array([2])) == pytest.approx(
        0.40760596444438, rel=1e-12
    )
    # softmax(1, 2, 3) = (0.0900306, 0.2447285, 0.6652410); minus one-hot(2)
    np.testing.assert_allclose(
        loss.backward()[0], [[0.09003057317, 0.24472847105, -0.33475904422]], rtol=1e-9
    )


def test_exact_and_finite_at_large_logits() -> None:
    scores = np.array([[1000.0, 0.0, -1000.0]] * 3)
    loss = SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss.forward(scores, np.array([0, 1, 2])) == 1000.0  # (0 + 1000 + 2000) / 3
        dscores = loss.backward()[0]
    np.testing.assert_array_equal(dscores, np.array([[0, 0, 0], [1, -1, 0], [1, 0, -1]]) / 3)


def test_backward_is_repeatable_and_leaves_inputs_alone() -> None:
    scores, y = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]), np.array([2, 0])
    before = scores.copy()
    loss = SoftmaxCrossEntropy()
    loss.forward(scores, y)
    first = loss.backward()[0].copy()
    np.testing.assert_array_equal(loss.backward()[0], first)
    np.testing.assert_array_equal(scores, before)


def test_float32_stays_float32() -> None:
    loss = SoftmaxCrossEntropy()
    loss.forward(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert loss.backward()[0].dtype == np.float32


def _reference(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """In float64, straight from the definition (the scores here are small: no shift needed)."""
    p = np.exp(scores.astype(np.float64))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(scores.shape[1])[y]
    return float(-np.mean(np.log(p[np.arange(len(y)), y]))), (p - onehot) / len(y)


@pytest.mark.parametrize("classes", [1, 2, 3, 4, 5, 10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_definition_for_any_class_count_and_batch(classes: int, dtype: type) -> None:
    rng = np.random.default_rng(classes)
    loss = SoftmaxCrossEntropy()
    for n in (64, 5, 1):
        scores = (rng.standard_normal((n, classes)) * 3).astype(dtype)
        scores[0] = scores[0, 0]  # a row of ties
        y = rng.integers(0, classes, n)
        value, dscores = loss.forward(scores, y), loss.backward(0.5)[0]
        expected_value, expected_dscores = _reference(scores, y)
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        assert value == pytest.approx(expected_value, rel=rtol, abs=rtol)
        np.testing.assert_allclose(dscores, 0.5 * expected_dscores, rtol=rtol, atol=rtol)
        assert dscores.dtype == dtype


def test_nan_scores_give_a_nan_loss_with_few_or_many_classes() -> None:
    loss = SoftmaxCrossEntropy()
    for classes in (3, 10):
        scores = np.zeros((2, classes))
        scores[1, 1] = np.nan
        with np.errstate(invalid="ignore"):
            assert np.isnan(loss.forward(scores, np.array([0, 0])))
