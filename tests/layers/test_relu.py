"""ReLU: hand-computed values, the kink at 0, dtypes."""

import numpy as np

from gategraph.layers.relu import ReLU


def test_forward_matches_hand_computed_values() -> None:
    out = ReLU().forward(np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -7.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.0], [0.5, 3.0, 0.0]])


def test_backward_passes_dout_where_x_is_positive_and_zero_at_the_kink() -> None:
    gate = ReLU()
    gate.forward(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]))
    dx = gate.backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 4.0, 5.0])


def test_float32_stays_float32() -> None:
    gate = ReLU()
    assert gate.forward(np.array([-1.0, 1.0], np.float32)).dtype == np.float32
    assert gate.backward(np.ones(2, np.float32)).dtype == np.float32


def test_signed_zeros_infinities_and_nan() -> None:
    x = np.array([-2.5, -0.0, 0.0, 1e-30, 3.0, np.nan, -np.inf, np.inf], np.float32)
    dout = np.array([1.5, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, np.nan], np.float32)
    gate = ReLU()
    out, dx = gate.forward(x), gate.backward(dout)
    expected_out = np.array([0.0, 0.0, 0.0, 1e-30, 3.0, np.nan, 0.0, np.inf], np.float32)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, -4.0, 5.0, 0.0, 0.0, np.nan])


def test_integer_input() -> None:
    gate = ReLU()
    np.testing.assert_array_equal(gate.forward(np.array([-3, 0, 4])), [0, 0, 4])
    np.testing.assert_array_equal(gate.backward(np.array([1.0, 1.0, 1.0])), [0.0, 0.0, 1.0])
