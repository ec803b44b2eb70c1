"""Sigmoid: hand-computed values (σ(ln 3) = 3/4), derivative σ(1 - σ), dtypes."""

import math

import numpy as np

from gategraph.layers.sigmoid import Sigmoid

LN3 = math.log(3.0)


def test_forward_matches_hand_computed_values() -> None:
    out = Sigmoid().forward(np.array([0.0, LN3, -LN3]))
    np.testing.assert_allclose(out, [0.5, 0.75, 0.25], rtol=1e-15)


def test_backward_is_dout_times_out_times_one_minus_out() -> None:
    gate = Sigmoid()
    gate.forward(np.array([[0.0, LN3], [-LN3, 0.0]]))
    dx = gate.backward(np.array([[1.0, 1.0], [2.0, 4.0]]))
    np.testing.assert_allclose(dx, [[0.25, 0.1875], [0.375, 1.0]], rtol=1e-15)


def test_float32_stays_float32_and_integers_become_float64() -> None:
    gate = Sigmoid()
    out = gate.forward(np.array([-1.0, 2.0], np.float32))
    assert out.dtype == np.float32
    assert gate.backward(np.ones(2, np.float32)).dtype == np.float32
    out = Sigmoid().forward(np.array([0, 0]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.5, 0.5])


def test_symmetry_sigma_of_minus_x_is_one_minus_sigma_of_x() -> None:
    x = np.linspace(-30.0, 30.0, 61)
    np.testing.assert_allclose(Sigmoid().forward(-x), 1 - Sigmoid().forward(x), atol=1e-16)
