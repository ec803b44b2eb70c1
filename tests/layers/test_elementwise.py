"""The one-line math gates: hand-computed values forward and backward, errors, circuits."""

import math
from typing import Any

import numpy as np
import pytest

from gategraph.layers.base import Layer
from gategraph.layers.elementwise import (
    Add,
    Cos,
    Divide,
    Exp,
    Log,
    MatMul,
    Max,
    Multiply,
    Negate,
    Power,
    Scale,
    Sin,
    Subtract,
    Sum,
    _unbroadcast,
)
from gategraph.layers.sigmoid import Sigmoid
from gategraph.models.graph import ComputationalGraph

E = math.e
FORWARD = [
    (Add(), ([1.0, 2.0], [3.0, -5.0]), [4.0, -3.0]),
    (Subtract(), ([1.0, 2.0], [3.0, -5.0]), [-2.0, 7.0]),
    (Multiply(), ([1.5, 2.0], [4.0, -5.0]), [6.0, -10.0]),
    (Divide(), ([1.0, -6.0], [2.0, 3.0]), [0.5, -2.0]),
    (Max(), ([1.0, 5.0, 3.0], [2.0, 4.0, 3.0]), [2.0, 5.0, 3.0]),
    (MatMul(), ([[1.0, 2.0], [3.0, 4.0]], [[5.0], [6.0]]), [[17.0], [39.0]]),
    (Negate(), ([2.0, -3.0],), [-2.0, 3.0]),
    (Scale(2.5), ([2.0, -4.0],), [5.0, -10.0]),
    (Exp(), ([0.0, 1.0],), [1.0, E]),
    (Log(), ([1.0, E],), [0.0, 1.0]),
    (Sin(), ([0.0, math.pi / 2],), [0.0, 1.0]),
    (Cos(), ([0.0, math.pi],), [1.0, -1.0]),
    (Power(3), ([2.0, -1.0],), [8.0, -1.0]),
    (Power(0.5), ([4.0, 9.0],), [2.0, 3.0]),
    (Power(-1), ([2.0, -4.0],), [0.5, -0.25]),
    (Sum(), ([[1.0, 2.0], [3.0, 4.0]],), 10.0),
    (Sum(axis=0), ([[1.0, 2.0], [3.0, 4.0]],), [4.0, 6.0]),
    (Sum(axis=-1), ([[1.0, 2.0], [3.0, 4.0]],), [3.0, 7.0]),
]

BACKWARD = [  # gate, inputs, dout, expected gradient of each input
    (Multiply(), ([2.0, 3.0], [4.0, 5.0]), [1.0, 10.0], ([4.0, 50.0], [2.0, 30.0])),
    (Divide(), ([6.0], [2.0]), [1.0], ([0.5], [-1.5])),
    (Subtract(), ([1.0, 2.0], [3.0, 4.0]), [1.0, 10.0], ([1.0, 10.0], [-1.0, -10.0])),
    (Max(), ([1.0, 5.0, 3.0], [2.0, 4.0, 3.0]), [10.0, 20.0, 30.0], ([0, 20, 15], [10, 0, 15])),
    (
        MatMul(),
        ([[1.0, 2.0], [3.0, 4.0]], [[5.0], [6.0]]),
        [[1.0], [2.0]],
        ([[5.0, 6.0], [10.0, 12.0]], [[7.0], [10.0]]),
    ),
    (Negate(), ([2.0, -3.0],), [1.0, 10.0], ([-1.0, -10.0],)),
    (Scale(-3.0), ([2.0, -3.0],), [1.0, 10.0], ([-3.0, -30.0],)),
    (Exp(), ([0.0, 1.0],), [2.0, 3.0], ([2.0, 3.0 * E],)),
    (Log(), ([2.0, 0.5],), [1.0, 3.0], ([0.5, 6.0],)),
    (Sin(), ([0.0, math.pi],), [2.0, 3.0], ([2.0, -3.0],)),
    (Cos(), ([math.pi / 2, -math.pi / 2],), [2.0, 3.0], ([-2.0, 3.0],)),
    (Power(3), ([2.0, -1.0],), [1.0, 2.0], ([12.0, 6.0],)),
    (Power(0.5), ([4.0],), [1.0], ([0.25],)),
    (Sum(), ([[1.0, 2.0], [3.0, 4.0]],), 2.0, ([[2.0, 2.0], [2.0, 2.0]],)),
    (Sum(axis=1), ([[1.0, 2.0], [3.0, 4.0]],), [10.0, 20.0], ([[10.0, 10.0], [20.0, 20.0]],)),
]


def _ids(cases: list[tuple]) -> list[str]:
    return [f"{type(case[0]).__name__}-{i}" for i, case in enumerate(cases)]


def _as_tuple(grads: Any) -> tuple[Any, ...]:
    return grads if isinstance(grads, tuple) else (grads,)


@pytest.mark.parametrize(("gate", "inputs", "expected"), FORWARD, ids=_ids(FORWARD))
def test_forward_matches_hand_computed_values(gate: Layer, inputs: tuple, expected: Any) -> None:
    out = gate.forward(*[np.array(x) for x in inputs])
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-15)
    assert np.shape(out) == np.shape(expected)


@pytest.mark.parametrize(
    ("gate", "inputs", "dout", "expected"), BACKWARD, ids=lambda v: repr(v)[:20]
)
def test_backward_matches_hand_computed_values(
    gate: Layer, inputs: tuple, dout: Any, expected: tuple
) -> None:
    gate.forward(*[np.array(x) for x in inputs])
    grads = _as_tuple(gate.backward(np.array(dout)))
    assert len(grads) == len(expected)
    for grad, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(grad, want, rtol=1e-15, atol=1e-15)
        assert np.shape(grad) == np.shape(want)


def test_add_sums_each_gradient_back_over_broadcast_axes() -> None:
    add = Add()
    out = add.forward(np.zeros((3, 1)), np.zeros((1, 4)))
    assert out.shape == (3, 4)
    dx, dy = add.backward(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(dx, [[6.0], [22.0], [38.0]])  # row sums
    np.testing.assert_array_equal(dy, [[12.0, 15.0, 18.0, 21.0]])  # column sums


def test_multiply_by_a_broadcast_scalar_sums_its_gradient() -> None:
    mul = Multiply()
    mul.forward(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array(10.0))
    dx, dy = mul.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(dx, np.full((2, 2), 10.0))
    assert dy.shape == () and dy == 10.0  # 1 + 2 + 3 + 4


def test_unbroadcast_sums_leading_and_stretched_axes() -> None:
    grad = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(_unbroadcast(grad, (3, 1)), grad.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(_unbroadcast(grad, (4,)), grad.sum(axis=(0, 1)))
    assert _unbroadcast(grad, ()) == grad.sum()
    assert _unbroadcast(grad, (2, 3, 4)) is grad


def test_max_splits_a_tie_half_half() -> None:
    gate = Max()
    gate.forward(np.array([2.0, 7.0]), np.array([2.0, 7.0]))
    dx, dy = gate.backward(np.array([1.0, 6.0]))
    np.testing.assert_array_equal(dx, [0.5, 3.0])
    np.testing.assert_array_equal(dy, [0.5, 3.0])


def test_max_of_a_value_with_itself_passes_the_whole_gradient() -> None:
    g = ComputationalGraph()
    x = g.input("x")
    g.add(Max(), x, x)
    g.forward(x=np.array([1.0, -2.0]))
    np.testing.assert_array_equal(g.backward(np.array([3.0, 5.0]))["x"], [3.0, 5.0])


def test_max_routes_a_broadcast_scalar_to_where_it_wins() -> None:
    gate = Max()
    gate.forward(np.array([[1.0, 5.0], [3.0, 0.0]]), np.array(2.0))
    dx, dy = gate.backward(np.array([[1.0, 10.0], [100.0, 1000.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 10.0], [100.0, 0.0]])
    assert dy == 1001.0


def test_scalar_inputs_work_as_python_floats() -> None:
    add = Add()
    out = add.forward(-2.0, 5.0)
    assert out.shape == () and out == 3.0
    dx, dy = add.backward(1.0)
    assert np.shape(dx) == np.shape(dy) == () and dx == dy == 1.0


def test_integer_inputs_become_float64() -> None:
    out = Multiply().forward(-2, 3)
    assert out.dtype == np.float64 and out == -6.0
    assert Exp().forward(np.array([0, 1])).dtype == np.float64


@pytest.mark.parametrize(
    "gate", [Negate(), Scale(2.0), Exp(), Log(), Sin(), Cos(), Power(2), Sum(), Sum(axis=0)]
)
def test_one_input_gates_keep_float32(gate: Layer) -> None:
    x = np.array([[0.5, 1.0], [1.5, 2.0]], np.float32)
    out = gate.forward(x)
    assert out.dtype == np.float32
    assert gate.backward(np.ones(np.shape(out), np.float32)).dtype == np.float32


@pytest.mark.parametrize("gate", [Add(), Subtract(), Multiply(), Divide(), Max(), MatMul()])
def test_two_input_gates_keep_float32(gate: Layer) -> None:
    x = np.array([[0.5, 1.0], [1.5, 2.0]], np.float32)
    out = gate.forward(x, x + 1)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in gate.backward(np.ones_like(out)))


def test_backward_does_not_modify_dout_or_inputs() -> None:
    x, y, dout = np.array([1.0, 2.0]), np.array([3.0, 0.5]), np.array([1.0, -1.0])
    for gate in (Add(), Subtract(), Multiply(), Divide(), Max()):
        gate.forward(x, y)
        gate.backward(dout)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(y, [3.0, 0.5])
    np.testing.assert_array_equal(dout, [1.0, -1.0])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: Log().forward(np.array([1.0, 0.0, -2.0])),
            ValueError,
            "Log needs x > 0 everywhere, got min(x) = -2.0",
        ),
        (
            lambda: Divide().forward(np.ones(2), np.array([1.0, 0.0])),
            ValueError,
            "Divide needs y != 0 everywhere, got a zero in y (2,)",
        ),
        (
            lambda: Add().forward(np.ones(3), np.ones(4)),
            ValueError,
            "Add cannot broadcast x (3,) with y (4,)",
        ),
        (
            lambda: MatMul().forward(np.ones(3), np.ones((3, 2))),
            ValueError,
            "MatMul expects x (N, D) and y (D, M), got x (3,), y (3, 2)",
        ),
        (
            lambda: MatMul().forward(np.ones((2, 3)), np.ones((2, 3))),
            ValueError,
            "MatMul expects x (N, D) and y (D, M), got x (2, 3), y (2, 3)",
        ),
        (
            lambda: Power(0.5).forward(np.array([-1.0, 4.0])),
            ValueError,
            "Power(0.5) needs x >= 0 (non-integer exponent), got min(x) = -1.0",
        ),
        (
            lambda: Power(-2).forward(np.array([0.0, 4.0])),
            ValueError,
            "Power(-2) needs x != 0 (negative exponent), got a zero in x",
        ),
        (
            lambda: Power(0),
            ValueError,
            "Power needs a nonzero exponent (x ** 0 is the constant 1), got 0",
        ),
        (lambda: Power("2"), TypeError, "Power needs exponent to be a number, got '2' (str)"),
        (lambda: Scale(True), TypeError, "Scale needs factor to be a number, got True (bool)"),
        (lambda: Scale(float("inf")), ValueError, "Scale needs a finite factor, got inf"),
        (lambda: Sum(axis=1.0), TypeError, "Sum needs axis to be an integer or None, got 1.0"),
        (
            lambda: Sum(axis=2).forward(np.ones((2, 2))),
            ValueError,
            "Sum(axis=2) is out of range for x (2, 2) (ndim 2)",
        ),
        (
            lambda: Sum(axis=-3).forward(np.ones((2, 2))),
            ValueError,
            "Sum(axis=-3) is out of range for x (2, 2) (ndim 2)",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(call: Any, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message


def test_negative_base_with_integer_exponent_is_allowed() -> None:
    np.testing.assert_array_equal(Power(2.0).forward(np.array([-3.0])), [9.0])


def test_lecture_circuit_with_integer_inputs() -> None:
    g = ComputationalGraph()
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    g.add(Multiply(), g.add(Add(), x, y), z)
    assert g.forward(x=-2, y=5, z=-4) == -12.0
    assert g.backward() == {"x": -4.0, "y": -4.0, "z": 3.0}


def _sigmoid_circuit(primitive: bool) -> ComputationalGraph:
    """f = σ(w0 x0 + w1 x1 + w2), with σ as one gate or as 1 / (1 + exp(-s))."""
    g = ComputationalGraph()
    w0, x0, w1, x1, w2 = (g.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
    s = g.add(Add(), g.add(Add(), g.add(Multiply(), w0, x0), g.add(Multiply(), w1, x1)), w2)
    if not primitive:
        g.add(Sigmoid(), s)
        return g
    denominator = g.add(Add(), g.add(Exp(), g.add(Negate(), s)), g.input("one", grad=False))
    g.add(Power(-1), denominator)
    return g


@pytest.mark.parametrize("primitive", [False, True])
def test_lecture_sigmoid_circuit_gradients(primitive: bool) -> None:
    g = _sigmoid_circuit(primitive)
    inputs = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    if primitive:
        inputs["one"] = 1.0
    f = g.forward(**inputs)
    assert f == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-15)
    local = f * (1 - f)  # σ'(1) = 0.19661193...
    expected = {"w0": -local, "x0": 2 * local, "w1": -2 * local, "x1": -3 * local, "w2": local}
    grads = g.backward()
    assert grads.keys() == expected.keys()
    for name, want in expected.items():
        assert grads[name] == pytest.approx(want, rel=1e-14), name
