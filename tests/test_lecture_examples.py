"""The worked circuits of the backprop lecture (CS231n), built from elementwise gates.

Every number is the lecture's (to its printed digits) and the exact value derived by hand.
"""

import numpy as np
import pytest

from gategraph.layers.elementwise import Add, Divide, Exp, Max, Multiply, Negate, Power, Scale
from gategraph.models.graph import ComputationalGraph


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + np.exp(-v))


def test_add_then_multiply() -> None:
    # f = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12; df/dq = z, df/dz = q
    g = ComputationalGraph()
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    q = g.add(Add(), x, y, name="q")
    g.add(Multiply(), q, z, name="f")
    assert g.forward(x=-2.0, y=5.0, z=-4.0) == -12.0
    assert g.backward() == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert (g.value("q"), g.grad("q")) == (3.0, -4.0)
    assert (g.value("f"), g.grad("f")) == (-12.0, 1.0)


def _reciprocal(g: ComputationalGraph, node: str, how: str) -> str:
    if how == "power":
        return g.add(Power(-1), node, name="f")
    return g.add(Divide(), "one", node, name="f")


@pytest.mark.parametrize("reciprocal", ["power", "divide"])
def test_sigmoid_neuron(reciprocal: str) -> None:
    # f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w = [2, -3, -3], x = [-1, -2]
    g = ComputationalGraph()
    w0, x0, w1, x1, w2 = (g.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
    one = g.input("one", grad=False)
    products = g.add(Add(), g.add(Multiply(), w0, x0), g.add(Multiply(), w1, x1), name="wx")
    dot = g.add(Add(), products, w2, name="dot")
    e = g.add(Exp(), g.add(Negate(), dot, name="neg"), name="exp")
    _reciprocal(g, g.add(Add(), e, one, name="denominator"), reciprocal)
    f = g.forward(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0, one=1.0)
    grads = g.backward()

    assert (g.value("wx"), g.value("dot"), g.value("neg")) == (4.0, 1.0, -1.0)
    assert g.value("exp") == pytest.approx(0.37, abs=0.005)
    assert g.value("denominator") == pytest.approx(1.37, abs=0.005)
    assert f == pytest.approx(0.73, abs=0.005)
    assert g.grad("denominator") == pytest.approx(-0.53, abs=0.005)
    assert g.grad("neg") == pytest.approx(-0.20, abs=0.005)
    assert g.grad("dot") == pytest.approx(0.20, abs=0.005)
    lecture = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert grads == pytest.approx(lecture, abs=0.005)

    # exact: the sigmoid's local gradient f (1 - f) = 0.19661193..., times the other factor
    local = _sigmoid(1.0) * (1.0 - _sigmoid(1.0))
    assert f == pytest.approx(_sigmoid(1.0), rel=1e-15)
    exact = {"w0": -local, "x0": 2 * local, "w1": -2 * local, "x1": -3 * local, "w2": local}
    assert grads == pytest.approx(exact, rel=1e-14)


def test_max_gate_routes_and_multiply_gate_switches() -> None:
    # f = 2 (x y + max(z, w)) at x = 3, y = -4, z = 2, w = -1
    g = ComputationalGraph()
    x, y, z, w = (g.input(n) for n in "xyzw")
    total = g.add(Add(), g.add(Multiply(), x, y), g.add(Max(), z, w, name="max"), name="sum")
    g.add(Scale(2.0), total, name="f")
    assert g.forward(x=3.0, y=-4.0, z=2.0, w=-1.0) == -20.0
    # add distributes 2 to both branches; max routes it all to z; multiply swaps x and y
    assert g.backward() == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}
    assert (g.grad("sum"), g.grad("max")) == (2.0, 2.0)


def test_gradients_add_at_a_fork() -> None:
    # f = x x + x: x feeds three inputs, df/dx = x + x + 1 = 7 at x = 3
    g = ComputationalGraph()
    x = g.input("x")
    g.add(Add(), g.add(Multiply(), x, x, name="square"), x, name="f")
    assert g.forward(x=3.0) == 12.0
    assert g.backward() == {"x": 7.0}
    assert g.backward() == {"x": 7.0}  # a second backward does not accumulate


def _sigmoid_gates(g: ComputationalGraph, node: str, name: str) -> str:
    e = g.add(Exp(), g.add(Negate(), node, name=f"neg_{name}"), name=f"exp_{name}")
    return g.add(Power(-1), g.add(Add(), e, "one", name=f"den_{name}"), name=name)


def test_staged_computation_with_forks() -> None:
    # f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²) at x = 3, y = -4 (the "staged computation")
    g = ComputationalGraph()
    x, y = g.input("x"), g.input("y")
    g.input("one", grad=False)
    numerator = g.add(Add(), x, _sigmoid_gates(g, y, "sig_y"), name="num")
    square = g.add(Power(2), g.add(Add(), x, y, name="xpy"), name="xpy_sq")
    denominator = g.add(Add(), _sigmoid_gates(g, x, "sig_x"), square, name="den")
    f = g.add(Divide(), numerator, denominator, name="f")
    value = g.forward(x=3.0, y=-4.0, one=1.0)
    grads = g.backward()

    N, D = 3.0 + _sigmoid(-4.0), _sigmoid(3.0) + 1.0
    assert value == pytest.approx(N / D, rel=1e-14) and value == pytest.approx(1.5456449)
    dsig = {v: _sigmoid(v) * (1 - _sigmoid(v)) for v in (3.0, -4.0)}
    dx = (D - N * (dsig[3.0] + 2 * (3.0 - 4.0))) / D**2  # quotient rule, dN/dx = 1
    dy = (dsig[-4.0] * D - N * 2 * (3.0 - 4.0)) / D**2
    assert grads == pytest.approx({"x": dx, "y": dy}, rel=1e-13)
    assert grads == pytest.approx({"x": 2.0595698, "y": 1.5922328})
    assert g.grad(f) == 1.0


def test_every_gate_of_a_circuit_matches_finite_differences() -> None:
    g = ComputationalGraph()
    x, y = g.input("x"), g.input("y")
    g.input("one", grad=False)
    g.add(Multiply(), _sigmoid_gates(g, g.add(Multiply(), x, y), "s"), g.add(Exp(), x))
    inputs = {"x": np.array([[0.3, -1.2], [2.0, 0.7]]), "y": np.array([1.5, -0.4]), "one": 1.0}
    dout = np.array([[1.0, -2.0], [0.5, 3.0]])
    g.forward(**inputs)
    grads = {k: v.copy() for k, v in g.backward(dout).items()}
    for name in ("x", "y"):
        numeric = np.zeros_like(inputs[name])
        for i in np.ndindex(numeric.shape):
            bumped = [dict(inputs, **{name: inputs[name].copy()}) for _ in range(2)]
            bumped[0][name][i] += 1e-5
            bumped[1][name][i] -= 1e-5
            plus, minus = (np.sum(g.forward(**b) * dout) for b in bumped)
            numeric[i] = (plus - minus) / 2e-5
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-7, atol=1e-10)
