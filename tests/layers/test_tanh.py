"""Tanh: hand-computed values (tanh(ln 3 / 2) = 1/2), derivative 1 - tanh², dtypes."""

import math

import numpy as np

from gategraph.layers.tanh import Tanh

HALF_LN3 = math.log(3.0) / 2  # tanh = (e^{2x} - 1) / (e^{2x} + 1) = (3 - 1) / (3 + 1)


def test_forward_matches_hand_computed_values() -> None:
    out = Tanh().forward(np.array([0.0, HALF_LN3, -HALF_LN3]))
    np.testing.assert_allclose(out, [0.0, 0.5, -0.5], rtol=1e-15, atol=1e-16)


def test_backward_is_dout_times_one_minus_out_squared() -> None:
    gate = Tanh()
    gate.forward(np.array([0.0, HALF_LN3, -HALF_LN3]))
    np.testing.assert_allclose(gate.backward(np.array([2.0, 1.0, 4.0])), [2.0, 0.75, 3.0])


def test_float32_stays_float32() -> None:
    gate = Tanh()
    assert gate.forward(np.ones((2, 3), np.float32)).dtype == np.float32
    assert gate.backward(np.ones((2, 3), np.float32)).dtype == np.float32
