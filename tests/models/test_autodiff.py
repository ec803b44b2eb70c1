"""Gradient graphs on the lecture's examples: the reverse and forward traces of
ln(x1) + x1 x2 - sin(x2), Autograd's tanh and its derivatives to the 4th, second derivatives
checked by the project's own checker, Hessians, and the errors, each one line."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_graph
from gategraph.layers.affine import Affine
from gategraph.layers.base import Layer
from gategraph.layers.conv2d import Conv2D
from gategraph.layers.elementwise import Add, Divide, Exp, Log, Multiply, Scale, Sin, Subtract
from gategraph.layers.relu import ReLU
from gategraph.layers.shape import Sum
from gategraph.layers.tanh import Tanh
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.autodiff import hessian, hvp, hvp_nodes
from gategraph.models.graph import ComputationalGraph


def lecture() -> ComputationalGraph:
    """y = ln(x1) + x1 x2 - sin(x2), named as in the lecture's trace (v2..v5, y)."""
    g = ComputationalGraph()
    x1, x2 = g.input("x1"), g.input("x2")
    v2 = g.add(Log(), x1, name="v2")
    v3 = g.add(Multiply(), x1, x2, name="v3")
    v4 = g.add(Sin(), x2, name="v4")
    v5 = g.add(Add(), v2, v3, name="v5")
    g.add(Subtract(), v5, v4, name="y")
    return g


def test_the_reverse_trace() -> None:
    g = lecture()
    dy = g.gradients("y", ["x1", "x2"])
    assert g.run([dy["x1"], dy["x2"]], x1=2.0, x2=5.0) == [5.5, 2.0 - np.cos(5.0)]
    assert g.run(dy["x2"], x1=2.0, x2=5.0) == pytest.approx(1.716, abs=5e-4)
    assert g.role(dy["x1"]) == "adjoint" and g.output_name == "y"  # the output stays


def test_the_forward_trace() -> None:
    g = lecture()
    t = g.tangents({"x1": "dx1", "x2": "dx2"})
    assert g.run(t["y"], x1=2.0, x2=5.0, dx1=1.0, dx2=0.0) == 5.5
    assert g.run(t["y"], x1=2.0, x2=5.0, dx1=0.0, dx2=1.0) == 2.0 - np.cos(5.0)
    assert g.role(t["y"]) == "tangent" and t["x1"] == "dx1"


def test_second_derivatives_are_gradients_of_gradient_nodes() -> None:
    g = lecture()
    dy = g.gradients("y", ["x1", "x2"])
    d2 = g.gradients(dy["x1"], ["x1", "x2"])
    d22 = g.gradients(dy["x2"], ["x2"])
    # d²y/dx1² = -1/x1², d²y/dx1dx2 = 1, d²y/dx2² = sin(x2)
    values = g.run([d2["x1"], d2["x2"], d22["x2"]], x1=2.0, x2=5.0)
    assert values == pytest.approx([-0.25, 1.0, np.sin(5.0)], rel=1e-15)


def test_a_second_derivative_passes_the_gradient_checker() -> None:
    g = lecture()
    dy = g.gradients("y", ["x1", "x2"])
    g.output(dy["x2"])  # x1 - cos(x2): its gradient is the Hessian's second row
    rng = np.random.default_rng(0)
    check_graph(g, {"x1": rng.uniform(0.5, 2.0), "x2": rng.standard_normal()}, rng)
    assert g.forward(x1=2.0, x2=5.0) == 2.0 - np.cos(5.0)
    assert g.backward() == pytest.approx({"x1": 1.0, "x2": np.sin(5.0)}, rel=1e-15)


def autograd_tanh() -> ComputationalGraph:
    """Autograd's README: y = exp(-2x); tanh = (1 - y) / (1 + y)."""
    g = ComputationalGraph()
    x, one = g.input("x"), g.input("one", grad=False)
    y = g.add(Exp(), g.add(Scale(-2.0), x), name="y")
    g.add(Divide(), g.add(Subtract(), one, y), g.add(Add(), one, y), name="tanh")
    return g


def derivatives(g: ComputationalGraph, of: str, n: int) -> list[str]:
    """d/dx of Σ of, n times: Autograd's elementwise_grad, as gradients of sums."""
    nodes = []
    for _ in range(n):
        of = g.gradients(g.add(Sum(), of), ["x"])["x"]
        nodes.append(of)
    return nodes


def test_autograd_tanh_and_its_derivatives_to_the_fourth() -> None:
    g = autograd_tanh()
    nodes = derivatives(g, "tanh", 4)
    values = g.run(nodes, x=1.0, one=1.0)
    assert values[0] == 0.41997434161402603  # grad(tanh)(1.0), Autograd's README
    t = np.tanh(1.0)
    exact = [
        1 - t**2,
        -2 * t * (1 - t**2),
        (1 - t**2) * (-2 + 6 * t**2),
        (1 - t**2) * (16 * t - 24 * t**3),
    ]
    assert values == pytest.approx(exact, rel=1e-13)
    x = np.linspace(-7, 7, 200)  # elementwise, as Autograd's plot
    t = np.tanh(x)
    np.testing.assert_allclose(g.run(nodes[1], x=x, one=1.0), -2 * t * (1 - t**2), atol=1e-14)


def test_the_third_derivative_passes_the_gradient_checker() -> None:
    g = autograd_tanh()
    g.output(derivatives(g, "tanh", 2)[-1])
    rng = np.random.default_rng(1)
    check_graph(g, {"x": rng.uniform(-2, 2, 5), "one": 1.0}, rng)


def mlp(rng: np.random.Generator) -> ComputationalGraph:
    g = ComputationalGraph()
    x, y = g.input("x", grad=False), g.input("y", grad=False)
    h = g.add(Tanh(), g.add(Affine(3, 4, rng=rng, dtype=np.float64), x))
    scores = g.add(Affine(4, 3, rng=rng, dtype=np.float64), h, name="scores")
    g.add(SoftmaxCrossEntropy(), scores, y, name="loss")
    return g


def test_a_gradient_penalty_passes_the_gradient_checker_wrt_params() -> None:
    """||d loss / dx||² as the output: backward through the gradient graph gives second
    derivatives with respect to the weights, which the graph sums where a weight is read
    twice (by its gate and by the gradient graph's `affine0.W` node)."""
    rng = np.random.default_rng(0)
    g = mlp(rng)
    dx = g.gradients("loss", ["x"])["x"]
    g.add(Sum(), g.add(Multiply(), dx, dx), name="penalty")
    assert list(g.params()) == ["affine0.W", "affine0.b", "scores.W", "scores.b"]  # once each
    check_graph(g, {"x": rng.standard_normal((5, 3)), "y": rng.integers(0, 3, 5)}, rng)


def test_hessian_and_both_hvp_modes() -> None:
    g = lecture()
    H = hessian(g, "y", ["x1", "x2"], x1=2.0, x2=5.0)
    np.testing.assert_allclose(H, [[-0.25, 1.0], [1.0, np.sin(5.0)]], rtol=1e-15)
    v = {"x1": 0.5, "x2": -2.0}
    for mode in ("forward-over-reverse", "reverse-over-reverse"):
        outs, inputs = hvp_nodes(g, "y", ["x1", "x2"], mode)
        got = g.run([outs["x1"], outs["x2"]], x1=2.0, x2=5.0, **{inputs[k]: v[k] for k in v})
        assert got == pytest.approx(list(H @ [0.5, -2.0]), rel=1e-15)
    assert hvp(g, "y", ["x1", "x2"], v, x1=2.0, x2=5.0) == pytest.approx(
        {"x1": -2.125, "x2": 0.5 - 2 * np.sin(5.0)}, rel=1e-15
    )


def test_a_wrt_the_output_does_not_depend_on_gets_zeros() -> None:
    g = lecture()
    g.input("z")
    dz = g.gradients("y", ["z"])["z"]
    assert np.array_equal(g.run(dz, x1=2.0, x2=5.0, z=np.ones((2, 3))), np.zeros((2, 3)))


def test_run_computes_only_what_the_nodes_need_and_returns_copies() -> None:
    g = lecture()
    assert g.run("v2", x1=np.e) == pytest.approx(1.0)  # x2 is not needed: not asked for
    x1 = np.array([1.0, 2.0])
    first = g.run("v3", x1=x1, x2=3.0)
    second = g.run("v3", x1=x1, x2=4.0)
    assert first.tolist() == [3.0, 6.0] and second.tolist() == [4.0, 8.0]


class Doubled(Layer):
    """out = 2 x, with a backward but no gradient graph (no vjp): a gate written before."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return 2 * x


def test_errors_are_one_line_naming_what_to_do() -> None:
    g = lecture()
    g.add(Scale(2.0), "x1", name="twice")
    dtwice = g.gradients("twice", ["x1"])["x1"]
    with pytest.raises(ValueError, match=r"^gradients of 'twice': it has shape \(2,\), not a "):
        g.run(dtwice, x1=np.ones(2))
    with pytest.raises(ValueError, match=r"^gradients: wrt: unknown 'x3'; name an input"):
        g.gradients("y", ["x3"])
    dy = g.gradients("y", ["x1"])["x1"]
    with pytest.raises(ValueError, match=r"^run: node 'dy/dx1' needs input 'x2': pass x2=<value>$"):
        g.run(dy, x1=2.0)
    g.add(Doubled(), "x1", name="doubled")
    with pytest.raises(NotImplementedError, match=r"^gradients: node 'doubled': Doubled has no "):
        g.gradients("doubled", ["x1"], seed="u")


def test_forward_and_backward_are_unchanged_by_gradient_nodes() -> None:
    rng = np.random.default_rng(0)
    g, h = mlp(rng), mlp(np.random.default_rng(0))
    g.gradients("loss", list(g.params()))
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    assert g.forward(x=x, y=y) == h.forward(x=x, y=y)
    ga, gb = g.backward(), h.backward()
    assert ga == gb == {}
    for (name, p), q in zip(g.params().items(), h.params().values(), strict=True):
        assert np.array_equal(p.grad, q.grad), name


def test_the_gradient_graph_of_a_loss_equals_backward() -> None:
    rng = np.random.default_rng(0)
    g = mlp(rng)
    wrt = list(g.params())
    grads = g.gradients("loss", wrt)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    values = g.run([grads[w] for w in wrt], x=x, y=y)
    g.forward(x=x, y=y)
    g.backward()
    for w, value in zip(wrt, values, strict=True):
        np.testing.assert_allclose(value, g.params()[w].grad, rtol=1e-12, atol=1e-15)
    assert ReLU  # the MLP uses tanh here (smooth: a clean second derivative)


def test_a_dropout_gradient_uses_the_frozen_mask_and_refuses_a_fresh_one() -> None:
    from gategraph.layers.dropout import Dropout

    g = ComputationalGraph()
    drop = Dropout(0.5, rng=np.random.default_rng(0))
    g.add(Sum(), g.add(drop, g.input("x"), name="drop"), name="f")
    dx = g.gradients("f", ["x"])["x"]
    x = np.ones((3, 4))
    with pytest.raises(RuntimeError, match=r"^Dropout in training mode draws a new mask every "):
        g.run(dx, x=x)
    drop.freeze()
    masked = g.run("drop", x=x)
    assert np.array_equal(g.run(dx, x=x), masked)  # d Σ(x * mask) / dx = mask, the same one
    drop.eval()
    assert np.array_equal(g.run(dx, x=x), np.ones((3, 4)))


def test_layer_norm_second_derivatives_pass_the_gradient_checker() -> None:
    from gategraph.layers.layer_norm import LayerNorm

    rng = np.random.default_rng(0)
    g = ComputationalGraph()
    norm = LayerNorm(4, dtype=np.float64)
    norm.params["gamma"].value[...] = rng.uniform(0.5, 1.5, 4)
    h = g.add(Tanh(), g.add(norm, g.input("x"), name="norm"))
    g.add(Sum(), g.add(Multiply(), h, h), name="f")
    dx = g.gradients("f", ["x"])["x"]
    g.add(Sum(), g.add(Multiply(), dx, dx), name="penalty")
    check_graph(g, {"x": rng.standard_normal((3, 4))}, rng)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradient_graphs_in_both_modes(training: bool) -> None:
    from gategraph.layers.batch_norm import BatchNorm

    rng = np.random.default_rng(0)
    norm = BatchNorm(3, dtype=np.float64)
    norm.params["gamma"].value[...] = rng.uniform(0.5, 1.5, 3)
    norm.buffers["running_var"][...] = rng.uniform(0.5, 2.0, 3)
    norm.train(training)
    g = ComputationalGraph()
    h = g.add(Tanh(), g.add(norm, g.input("x"), name="norm"))
    g.add(Sum(), g.add(Multiply(), h, h), name="f")
    wrt = ["x", "norm.gamma", "norm.beta"]
    grads = g.gradients("f", wrt)
    x = rng.standard_normal((4, 3, 2))
    values = g.run([grads[w] for w in wrt], x=x)
    g.forward(x=x)
    backward = g.backward()
    np.testing.assert_allclose(values[0], backward["x"], rtol=1e-12)
    for w, value in zip(wrt[1:], values[1:], strict=True):
        np.testing.assert_allclose(value, g.params()[w].grad, rtol=1e-12)
    dx = grads["x"]
    g.add(Sum(), g.add(Multiply(), dx, dx), name="penalty")
    check_graph(g, {"x": x}, rng)
    norm.train(not training)
    with pytest.raises(RuntimeError, match=r"^this gradient graph was built with the BatchNorm"):
        g.run(dx, x=x)


def test_a_convnet_gradient_penalty_passes_the_gradient_checker() -> None:
    """Second derivatives through Conv2D (its input- and weight-gradient gates), a max pool
    (its unpool / gather gates) and global average pooling, with respect to x and the weights."""
    from gategraph.layers.global_avg_pool import GlobalAvgPool
    from gategraph.layers.max_pool2d import MaxPool2D

    rng = np.random.default_rng(0)
    g = ComputationalGraph()
    conv = Conv2D(2, 3, 3, pad=1, rng=rng, dtype=np.float64)
    h = g.add(Tanh(), g.add(conv, g.input("x"), name="conv"))
    pooled = g.add(GlobalAvgPool(), g.add(MaxPool2D(2), h))
    g.add(Sum(), g.add(Multiply(), pooled, pooled), name="f")
    dx = g.gradients("f", ["x"])["x"]
    g.add(Sum(), g.add(Multiply(), dx, dx), name="penalty")
    x = (rng.permutation(2 * 2 * 4 * 4).reshape(2, 2, 4, 4) - 16) / 16.0  # no pooling ties
    check_graph(g, {"x": x}, rng)
