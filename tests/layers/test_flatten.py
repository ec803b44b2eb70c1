"""Flatten: (N, d1, ..., dk) -> (N, D) in C order, backward reshapes back."""

import numpy as np
import pytest

from gategraph.layers.flatten import Flatten


def test_forward_keeps_the_batch_axis_in_c_order() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    out = Flatten().forward(x)
    assert out.shape == (2, 12)
    np.testing.assert_array_equal(out[1], np.arange(12.0, 24.0))


def test_backward_restores_the_input_shape() -> None:
    gate = Flatten()
    gate.forward(np.zeros((2, 3, 4)))
    dx = gate.backward(np.arange(24.0).reshape(2, 12))
    np.testing.assert_array_equal(dx, np.arange(24.0).reshape(2, 3, 4))


def test_edge_shapes() -> None:
    assert Flatten().forward(np.zeros(5)).shape == (5, 1)
    assert Flatten().forward(np.zeros((0, 3, 4))).shape == (0, 12)


def test_needs_a_batch_axis() -> None:
    with pytest.raises(ValueError, match="Flatten needs x .* with a batch axis, got a 0-d x"):
        Flatten().forward(np.float64(1.0))
