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


def test_the_float_mask_gives_the_bool_masks_bits_with_signed_zeros_and_nan() -> None:
    # The mask is kept in x's dtype so backward is one same-dtype multiply; x * 1.0, x * 0.0
    # and NaN * 0.0 are what multiplying by a bool mask gives, signed zeros included.
    x = np.array([-2.5, -0.0, 0.0, 1e-30, 3.0, np.nan, -np.inf, np.inf], np.float32)
    dout = np.array([1.5, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, np.nan], np.float32)
    gate = ReLU()
    with np.errstate(invalid="ignore"):
        out, dx = gate.forward(x).copy(), gate.backward(dout)
        bool_mask = x > 0
        expected_out, expected_dx = x * bool_mask, dout * bool_mask
    assert gate._mask.dtype == np.float32
    np.testing.assert_array_equal(out.view(np.uint32), expected_out.view(np.uint32))
    np.testing.assert_array_equal(dx.view(np.uint32), expected_dx.view(np.uint32))


def test_integer_input_keeps_a_bool_mask() -> None:
    gate = ReLU()
    np.testing.assert_array_equal(gate.forward(np.array([-3, 0, 4])), [0, 0, 4])
    assert gate._mask.dtype == bool
    np.testing.assert_array_equal(gate.backward(np.array([1.0, 1.0, 1.0])), [0.0, 0.0, 1.0])
