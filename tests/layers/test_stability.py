"""Sigmoid, Tanh and Softmax at |x| = 1000: exact values, no overflow, finite gradients."""

import numpy as np
import pytest

from gategraph.layers.base import Layer
from gategraph.layers.sigmoid import Sigmoid
from gategraph.layers.softmax import Softmax
from gategraph.layers.tanh import Tanh

RAISE = {"over": "raise", "invalid": "raise", "divide": "raise"}


def _run(gate: Layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(**RAISE):
        out = gate.forward(x).copy()
        dx = gate.backward(np.ones_like(x))
    return out, dx


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_exactly(dtype: type) -> None:
    out, dx = _run(Sigmoid(), np.array([-1000.0, 1000.0], dtype))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, [0.0, 1.0])  # σ(-1000) = exp(-1000) = 0 in floats
    np.testing.assert_array_equal(dx, [0.0, 0.0])


def test_sigmoid_of_a_large_negative_number_is_its_exponential() -> None:
    out, _ = _run(Sigmoid(), np.array([-700.0, -100.0]))
    np.testing.assert_array_equal(out, np.exp([-700.0, -100.0]))  # 1 + e^-100 == 1 in floats


def test_sigmoid_in_float32_where_the_naive_formula_overflows() -> None:
    x = np.array([-100.0, 100.0], np.float32)  # exp(100) overflows float32
    out, _ = _run(Sigmoid(), x)
    np.testing.assert_array_equal(out, np.array([np.exp(np.float32(-100.0)), 1.0], np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_saturates_exactly(dtype: type) -> None:
    out, dx = _run(Tanh(), np.array([-1000.0, 0.0, 1000.0], dtype))
    np.testing.assert_array_equal(out, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dx, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_of_huge_scores_is_exact(dtype: type) -> None:
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 0.0]])
    out, dx = _run(Softmax(), x.astype(dtype))
    expected = [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]
    np.testing.assert_array_equal(out, np.array(expected, dtype))
    np.testing.assert_array_equal(dx, np.zeros((3, 3)))  # dout = 1 everywhere: softmax sums to 1
