"""Softmax: hand-computed probabilities, the shift invariance, the backward formula, errors."""

import math

import numpy as np
import pytest

from gategraph.layers.softmax import Softmax


def test_forward_matches_hand_computed_values() -> None:
    x = np.array([[0.0, math.log(2.0), math.log(5.0)], [1.0, 1.0, 1.0]])  # exp: 1, 2, 5
    np.testing.assert_allclose(Softmax().forward(x), [[1 / 8, 2 / 8, 5 / 8], [1 / 3] * 3])


def test_rows_are_shift_invariant_and_sum_to_one() -> None:
    out = Softmax().forward(np.array([[1.0, 2.0, 3.0], [101.0, 102.0, 103.0]]))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-15)
    np.testing.assert_allclose(out.sum(axis=1), [1.0, 1.0], rtol=1e-15)


def test_softmax_runs_over_the_last_axis_of_any_rank() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    out = Softmax().forward(x)
    rows = [Softmax().forward(row) for row in x.reshape(6, 4)]
    np.testing.assert_allclose(out.reshape(6, 4), rows, rtol=1e-15)


def test_backward_matches_hand_computed_values() -> None:
    gate = Softmax()
    gate.forward(np.array([[0.0, math.log(3.0)]]))  # out = [1/4, 3/4]
    dx = gate.backward(np.array([[1.0, 0.0]]))  # out * (dout - 1/4)
    np.testing.assert_allclose(dx, [[0.1875, -0.1875]], rtol=1e-15)


def test_backward_equals_the_jacobian_product() -> None:
    rng = np.random.default_rng(1)
    gate = Softmax()
    out = gate.forward(rng.standard_normal((1, 4)))[0].copy()
    dout = rng.standard_normal((1, 4))
    jacobian = np.diag(out) - np.outer(out, out)  # ∂out_i/∂x_j
    np.testing.assert_allclose(gate.backward(dout)[0], jacobian.T @ dout[0], rtol=1e-13)


@pytest.mark.parametrize("shape", [(), (3, 0)])
def test_needs_at_least_one_class(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as info:
        Softmax().forward(np.zeros(shape))
    assert str(info.value) == f"Softmax needs x (..., C) with C >= 1 classes, got x {shape}"


def test_float32_stays_float32() -> None:
    gate = Softmax()
    assert gate.forward(np.ones((2, 3), np.float32)).dtype == np.float32
    assert gate.backward(np.ones((2, 3), np.float32)).dtype == np.float32
