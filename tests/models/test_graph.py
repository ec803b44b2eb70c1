"""ComputationalGraph: the issue's API, the plan, errors, forks, modes, buffers and caches."""

from typing import Any

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.layers.affine import Affine
from gategraph.layers.base import cache_names
from gategraph.layers.elementwise import Add, Multiply, Negate
from gategraph.layers.relu import ReLU
from gategraph.layers.tanh import Tanh
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.graph import ComputationalGraph


def _issue_graph() -> ComputationalGraph:
    g = ComputationalGraph()
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    q = g.add(Add(), x, y, name="q")
    g.add(Multiply(), q, z, name="f")
    return g


def _mlp_graph() -> ComputationalGraph:
    rng = np.random.default_rng(0)
    g = ComputationalGraph()
    h = g.add(Affine(2, 3, rng=rng, dtype=np.float64), g.input("x"))
    g.add(Affine(3, 2, rng=rng, dtype=np.float64), g.add(ReLU(), h))
    return g


def _assert_no_cache(g: ComputationalGraph) -> None:
    for name, layer in g.layers().items():
        cached = {a: getattr(layer, a) for a in cache_names(type(layer))}
        assert all(v is None for v in cached.values()), f"{name} kept {cached}"


X = np.array([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]])


# ---- building (the issue's (x + y) z is in tests/test_lecture_examples.py) ---------------


def test_params_are_named_node_dot_key() -> None:
    g = _mlp_graph()
    params = g.params()
    assert list(params) == ["affine0.W", "affine0.b", "affine1.W", "affine1.b"]
    assert all(isinstance(p, Param) for p in params.values())
    assert params["affine0.W"].value.shape == (2, 3)
    assert params["affine1.b"].value.base is params["affine0.W"].value.base
    assert _issue_graph().params() == {}


def test_inputs_may_be_declared_after_their_consumer() -> None:
    g = ComputationalGraph()
    g.add(Multiply(), "a", "b", name="f")
    g.input("b")
    g.input("a")
    assert g.forward(a=3.0, b=5.0) == 15.0
    assert g.backward() == {"b": 3.0, "a": 5.0}


def test_the_plan_is_resolved_once_and_reused() -> None:
    g = _issue_graph()
    g.forward(x=1.0, y=2.0, z=3.0)
    plan = g._plan
    assert plan is not None
    g.backward()
    assert g.forward(x=2.0, y=2.0, z=3.0) == 12.0
    assert g._plan is plan
    g.add(Negate(), "f", name="g")  # a new node invalidates it
    assert g.forward(x=2.0, y=2.0, z=3.0) == -12.0
    assert g._plan is not plan


def test_a_loss_ends_a_graph() -> None:
    g = _mlp_graph()
    g.add(SoftmaxCrossEntropy(), "affine1", g.input("y", grad=False), name="loss")
    y = np.array([0, 1, 1])
    loss = g.forward(x=X, y=y)
    reference = SoftmaxCrossEntropy()
    assert isinstance(loss, float) and loss == reference.forward(g.value("affine1"), y)
    grads = g.backward()
    assert list(grads) == ["x"]  # labels get no gradient
    dscores, _ = reference.backward()
    np.testing.assert_array_equal(g.grad("affine1"), dscores)
    params = g.params()
    W0, W1 = params["affine0.W"].value, params["affine1.W"].value
    hidden = g.value("relu0")
    np.testing.assert_allclose(params["affine1.W"].grad, hidden.T @ dscores, rtol=1e-14)
    np.testing.assert_allclose(grads["x"], ((dscores @ W1.T) * (hidden > 0)) @ W0.T, rtol=1e-14)


# ---- errors ----------------------------------------------------------------------------------


def test_a_cycle_raises_naming_its_nodes() -> None:
    g = ComputationalGraph()
    x = g.input("x")
    g.add(Add(), x, "b", name="a")
    g.add(Negate(), "a", name="b")
    with pytest.raises(ValueError, match=r"^the graph has a cycle, b -> a -> b$"):
        g.forward(x=1.0)


def test_an_unknown_input_name_raises() -> None:
    g = ComputationalGraph()
    g.add(Negate(), g.input("x"), name="n")
    g.add(Add(), "n", "nope", name="s")
    with pytest.raises(
        ValueError, match="^node 's' takes input 'nope', which is not a node; nodes: x, n, s$"
    ):
        g.forward(x=1.0)


def test_a_duplicate_name_raises() -> None:
    g = ComputationalGraph()
    g.input("x")
    with pytest.raises(ValueError, match="^duplicate node name 'x'$"):
        g.input("x")
    with pytest.raises(ValueError, match="^duplicate node name 'x'$"):
        g.add(Negate(), "x", name="x")


def test_a_gate_object_added_twice_raises() -> None:
    g = ComputationalGraph()
    x = g.input("x")
    gate = Negate()
    g.add(gate, x, name="first")
    with pytest.raises(
        ValueError, match="^node 'second': this Negate object is already node 'first'"
    ):
        g.add(gate, "first", name="second")


def test_wrong_number_of_inputs_raises() -> None:
    g = ComputationalGraph()
    g.add(Add(), g.input("x"), name="s")
    with pytest.raises(ValueError, match=r"^node 's' \(Add\) takes 2 input\(s\), got 1: \['x'\]$"):
        g.forward(x=1.0)


def test_missing_and_unexpected_forward_inputs_raise() -> None:
    message = r"^forward expects inputs \['x', 'y', 'z'\]; missing \['z'\], unexpected \['w'\]$"
    with pytest.raises(ValueError, match=message):
        _issue_graph().forward(x=1.0, y=2.0, w=3.0)


def test_adding_a_non_layer_raises() -> None:
    g = ComputationalGraph()
    with pytest.raises(TypeError, match="^ComputationalGraph.add expects a Layer, got function$"):
        g.add(lambda x: -x, g.input("x"))  # type: ignore[arg-type]


def test_backward_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match="backward called before forward"):
        _issue_graph().backward()


def test_value_and_grad_need_a_known_node_and_a_run() -> None:
    g = _issue_graph()
    with pytest.raises(RuntimeError, match="^no value for 'q': run forward"):
        g.value("q")
    with pytest.raises(ValueError, match="^unknown node 'nope'; nodes: x, y, z, q, f$"):
        g.grad("nope")


def test_an_empty_graph_raises() -> None:
    with pytest.raises(RuntimeError, match="^the graph is empty"):
        ComputationalGraph().forward()


def test_a_non_scalar_output_needs_dout() -> None:
    g = _mlp_graph()
    g.forward(x=X)
    with pytest.raises(
        ValueError, match=r"output 'affine1' has shape \(3, 2\): backward needs dout"
    ):
        g.backward()


def test_dout_must_match_the_output_shape() -> None:
    g = _mlp_graph()
    g.forward(x=X)
    with pytest.raises(ValueError, match=r"shape \(3, 2\), got \(2, 3\)$"):
        g.backward(np.ones((2, 3)))


# ---- what runs and what adds up --------------------------------------------------------------


def _exploding(*_: Any) -> None:
    raise AssertionError("a node that does not lead to the output ran")


def test_nodes_off_the_path_to_the_output_do_not_run() -> None:
    g = ComputationalGraph()
    x = g.input("x")
    bomb = Negate()
    bomb.forward = _exploding  # type: ignore[method-assign]
    bomb.backward = _exploding  # type: ignore[method-assign]
    g.add(bomb, x, name="dead_end")
    g.add(Multiply(), x, x, name="square")
    assert g.forward(x=3.0) == 9.0
    assert g.backward() == {"x": 6.0}


def test_output_selects_another_node() -> None:
    g = _issue_graph()
    g.output("q")
    assert g.output_name == "q"
    assert g.forward(x=-2.0, y=5.0, z=-4.0) == 3.0
    assert g.backward() == {"x": 1.0, "y": 1.0}  # z does not lead to q


def test_an_output_needs_only_the_inputs_that_lead_to_it() -> None:
    g = _mlp_graph()
    g.add(SoftmaxCrossEntropy(), "affine1", g.input("y", grad=False), name="loss")
    y = np.array([0, 1, 1])
    g.forward(x=X, y=y)
    g.output("affine1")  # the scores of a graph that ends in its loss: no labels needed
    scores = g.predict(x=X)
    np.testing.assert_array_equal(scores, g.forward(x=X, y=y))  # a declared input is accepted
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['w'\]$"):
        g.forward(x=X, w=y)


def test_a_fork_of_arrays_does_not_touch_gate_buffers() -> None:
    g = ComputationalGraph()
    x = g.input("x")
    h = g.add(ReLU(), x, name="h")
    g.add(Add(), g.add(Negate(), h, name="n"), h, name="f")  # f = -h + h
    a = np.array([[1.0, -1.0, 2.0]])
    g.forward(x=a)
    np.testing.assert_array_equal(g.backward(np.ones((1, 3)))["x"], [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(g.grad("h"), [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(g.grad("n"), [[1.0, 1.0, 1.0]])  # n's own gradient intact


def test_a_chain_of_ten_thousand_gates_runs_without_recursion() -> None:
    g = ComputationalGraph()
    node = g.input("x")
    for _ in range(10_001):
        node = g.add(Negate(), node)
    assert g.forward(x=1.5) == -1.5
    assert g.backward() == {"x": -1.0}


def test_repeated_backward_overwrites_param_grads() -> None:
    g = _mlp_graph()
    g.forward(x=X)
    g.backward(np.ones((3, 2)))
    first = {k: p.grad.copy() for k, p in g.params().items()}
    g.backward(np.ones((3, 2)))
    for key, p in g.params().items():
        np.testing.assert_array_equal(p.grad, first[key])


# ---- modes, caches and buffers ---------------------------------------------------------------


def test_train_and_eval_reach_every_layer() -> None:
    g = _mlp_graph()
    assert g.eval() is g
    assert g.training is False and all(not layer.training for layer in g.layers().values())
    g.train()
    assert g.training is True and all(layer.training for layer in g.layers().values())


def test_predict_copies_restores_the_mode_and_keeps_no_cache() -> None:
    g = _mlp_graph()
    expected = g.forward(x=X).copy()
    out = g.predict(x=X)
    np.testing.assert_array_equal(out, expected)
    assert g.training is True and all(layer.training for layer in g.layers().values())
    _assert_no_cache(g)
    g.forward(x=2 * X)
    np.testing.assert_array_equal(out, expected)  # a fresh array, not the reused buffer
    g.eval()
    g.predict(x=X)
    assert g.training is False  # restored to eval, not forced to train


def test_predict_leaves_no_cache_in_elementwise_gates() -> None:
    g = _issue_graph()
    g.forward(x=1.0, y=2.0, z=3.0)
    assert g.predict(x=1.0, y=2.0, z=4.0) == 12.0
    _assert_no_cache(g)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        g.backward()


def test_no_grad_keeps_no_cache_and_then_caches_again() -> None:
    g = _mlp_graph()
    with g.no_grad():
        g.forward(x=X)
    _assert_no_cache(g)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        g.backward(np.ones((3, 2)))
    g.forward(x=X)
    assert g.layers()["affine0"]._x is not None
    assert g.backward(np.ones((3, 2)))["x"].shape == X.shape


def _tanh_graph() -> ComputationalGraph:
    """x -> tanh -> affine -> tanh: the first and last gates write into reused buffers."""
    g = ComputationalGraph()
    h = g.add(Tanh(), g.input("x"))
    g.add(Tanh(), g.add(Affine(2, 2, rng=np.random.default_rng(0), dtype=np.float64), h))
    return g


def test_a_returned_forward_value_is_never_overwritten() -> None:
    g = _tanh_graph()
    first = g.forward(x=X)
    kept = first.copy()
    second = g.forward(x=2 * X)
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)  # still the first call's output
    predicted = g.predict(x=X)
    g.forward(x=3 * X)
    g.predict(x=2 * X)
    np.testing.assert_array_equal(predicted, kept)
    np.testing.assert_array_equal(first, kept)


def test_without_buffer_reuse_each_forward_is_fresh() -> None:
    g = ComputationalGraph(reuse_buffers=False)
    g.add(ReLU(), g.input("x"))
    first = g.forward(x=X)
    second = g.forward(x=2 * X)
    assert second is not first
    np.testing.assert_array_equal(first, np.maximum(X, 0))


def test_a_returned_gradient_is_never_overwritten() -> None:
    g = _tanh_graph()
    g.forward(x=X)
    first = g.backward(np.ones((3, 2)))["x"]
    kept = first.copy()
    second = g.backward(np.full((3, 2), 2.0))["x"]
    np.testing.assert_allclose(second, 2 * kept, rtol=1e-14)
    g.forward(x=2 * X)
    g.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(first, kept)
