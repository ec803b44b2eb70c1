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


def _plain(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The textbook formulation: row max by reduction, labels by fancy indexing."""
    rows = np.arange(len(y))
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp @ np.ones(scores.shape[1], scores.dtype)
    probs = exp / sums[:, None]
    losses = np.log(sums) - shifted[rows, y]
    scale = 1.0 / len(y)
    dscores = probs * scale
    dscores[rows, y] -= scale
    return float(losses @ np.ones(len(y), losses.dtype)) / len(y), dscores


@pytest.mark.parametrize("classes", [1, 2, 3, 4, 5, 10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_textbook_formulation_bit_for_bit(classes: int, dtype: type) -> None:
    # Few classes take column maximums instead of a row reduction, and labels are picked and
    # written through flat indices: the same arithmetic, so the same bits.
    rng = np.random.default_rng(classes)
    scores = (rng.standard_normal((64, classes)) * 5).astype(dtype)
    scores[3] = scores[3, 0]  # a row of ties
    y = rng.integers(0, classes, 64)
    loss = SoftmaxCrossEntropy()
    for _ in range(2):  # the second pass runs on reused buffers
        value, dscores = loss.forward(scores, y), loss.backward()[0]
        expected_value, expected_dscores = _plain(scores, y)
        assert value == expected_value
        np.testing.assert_array_equal(dscores, expected_dscores)
        assert dscores.dtype == dtype


def test_a_new_batch_size_or_class_count_gets_fresh_label_indices() -> None:
    loss = SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    for n, c in [(5, 3), (5, 4), (7, 4), (1, 4), (5, 3)]:
        scores, y = rng.standard_normal((n, c)), rng.integers(0, c, n)
        assert loss.forward(scores, y) == _plain(scores, y)[0]
        np.testing.assert_array_equal(loss.backward()[0], _plain(scores, y)[1])


def test_nan_scores_give_a_nan_loss_with_few_or_many_classes() -> None:
    loss = SoftmaxCrossEntropy()
    for classes in (3, 10):
        scores = np.zeros((2, classes))
        scores[1, 1] = np.nan
        with np.errstate(invalid="ignore"):
            assert np.isnan(loss.forward(scores, np.array([0, 0])))
