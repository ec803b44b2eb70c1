"""SoftmaxCrossEntropy: a small case by hand, exact at logits ±1000, backward by hand."""

import numpy as np
import pytest

from losses.softmax_cross_entropy import SoftmaxCrossEntropy


def test_uniform_scores_cost_log_c() -> None:
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.zeros((2, 3)), np.array([0, 2])) == pytest.approx(np.log(3), rel=1e-15)
    np.testing.assert_allclose(loss.backward(), np.array([[-2, 1, 1], [1, 1, -2]]) / 6, rtol=1e-15)


def test_small_case_by_hand() -> None:
    # log(e + e² + e³) - 3 = log(1 + e⁻¹ + e⁻²) = log(1.5032147244...) = 0.4076059644...
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.array([[1.0, 2.0, 3.0]]), np.array([2])) == pytest.approx(
        0.40760596444438, rel=1e-12
    )
    # softmax(1, 2, 3) = (0.0900306, 0.2447285, 0.6652410); minus one-hot(2)
    np.testing.assert_allclose(
        loss.backward(), [[0.09003057317, 0.24472847105, -0.33475904422]], rtol=1e-9
    )


def test_exact_and_finite_at_large_logits() -> None:
    scores = np.array([[1000.0, 0.0, -1000.0]] * 3)
    loss = SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss.forward(scores, np.array([0, 1, 2])) == 1000.0  # (0 + 1000 + 2000) / 3
        dscores = loss.backward()
    np.testing.assert_array_equal(dscores, np.array([[0, 0, 0], [1, -1, 0], [1, 0, -1]]) / 3)


def test_backward_is_repeatable_and_leaves_inputs_alone() -> None:
    scores, y = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]), np.array([2, 0])
    before = scores.copy()
    loss = SoftmaxCrossEntropy()
    loss.forward(scores, y)
    first = loss.backward().copy()
    np.testing.assert_array_equal(loss.backward(), first)
    np.testing.assert_array_equal(scores, before)


def test_float32_stays_float32() -> None:
    loss = SoftmaxCrossEntropy()
    loss.forward(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert loss.backward().dtype == np.float32
