"""Sequential: a chain of gates on the graph engine, checked against the same math by hand."""

import numpy as np
import pytest

from gategraph.layers.affine import Affine
from gategraph.layers.dropout import Dropout
from gategraph.layers.relu import ReLU
from gategraph.layers.tanh import Tanh
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.sequential import Sequential
from gategraph.optim.sgd import SGD


def _mlp(dtype: type = np.float64, *, input_grad: bool = True) -> Sequential:
    rng = np.random.default_rng(0)
    layers = [Affine(2, 3, rng=rng, dtype=dtype), ReLU(), Affine(3, 2, rng=rng, dtype=dtype)]
    return Sequential(layers, input_grad=input_grad)


def _weights(model: Sequential) -> tuple[np.ndarray, ...]:
    p = model.params()
    return tuple(p[k].value.copy() for k in ("affine0.W", "affine0.b", "affine1.W", "affine1.b"))


X = np.array([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0], [2.0, 1.0]])


def test_forward_is_the_composition() -> None:
    model = _mlp()
    model.params()["affine0.b"].value[:] = [0.1, -0.2, 0.3]  # biases nonzero: they must count
    W0, b0, W1, b1 = _weights(model)
    np.testing.assert_allclose(model.forward(X), np.maximum(X @ W0 + b0, 0) @ W1 + b1, rtol=1e-14)


def test_backward_gives_dx_and_param_grads() -> None:
    model = _mlp()
    W0, b0, W1, b1 = _weights(model)
    dout = np.arange(8.0).reshape(4, 2) - 3.5
    model.forward(X)
    dx = model.backward(dout)
    hidden = X @ W0 + b0
    dhidden = (dout @ W1.T) * (hidden > 0)
    grads = {k: p.grad for k, p in model.params().items()}
    np.testing.assert_allclose(grads["affine1.W"], np.maximum(hidden, 0).T @ dout, rtol=1e-14)
    np.testing.assert_allclose(grads["affine1.b"], dout.sum(0), rtol=1e-14)
    np.testing.assert_allclose(grads["affine0.W"], X.T @ dhidden, rtol=1e-14)
    np.testing.assert_allclose(grads["affine0.b"], dhidden.sum(0), rtol=1e-14)
    np.testing.assert_allclose(dx, dhidden @ W0.T, rtol=1e-14)


def test_params_have_dotted_names_and_share_one_flat_buffer() -> None:
    params = _mlp().params()
    assert list(params) == ["affine0.W", "affine0.b", "affine1.W", "affine1.b"]
    model_values, model_grads = params["affine0.W"].value.base, params["affine0.W"].grad.base
    assert model_values is not None and model_grads is not None
    owners = {id(p.value.base) for p in params.values()} | {
        id(p.grad.base) for p in params.values()
    }
    assert owners == {id(model_values), id(model_grads)}  # one buffer each for all params
    optimizer = SGD(params.values(), lr=0.1)
    assert optimizer.values.shape == (2 * 3 + 3 + 3 * 2 + 2,) and optimizer.n_decay == 2 * 3 + 3 * 2
    assert optimizer.values.base is model_values and optimizer.grads.base is model_grads  # no copy
    assert np.shares_memory(optimizer.values, params["affine1.b"].value)


def test_input_grad_false_returns_none_and_skips_the_first_dx() -> None:
    model = _mlp(input_grad=False)
    model.forward(X)
    assert model.backward(np.ones((4, 2))) is None
    first, _, last = model.layers.values()
    assert first.needs_input_grad is False and last.needs_input_grad is True
    assert not any(key[0] == "dx" for key in first._buffers)  # the dx GEMM never ran
    assert np.any(model.params()["affine0.W"].grad != 0)  # its weights still learn


def test_train_and_eval_reach_every_layer() -> None:
    model = _mlp()
    assert model.eval() is model
    assert model.training is False
    assert all(layer.training is False for layer in model.layers.values())
    model.train()
    assert model.training is True
    assert all(layer.training is True for layer in model.layers.values())


def test_predict_returns_a_copy_restores_the_mode_and_keeps_no_cache() -> None:
    model = _mlp()
    scores = model.forward(X).copy()
    out = model.predict(X)
    np.testing.assert_array_equal(out, scores)
    assert model.training is True
    first, relu, last = model.layers.values()
    assert first._x is None and relu._mask is None and last._x is None
    model.forward(2 * X)
    np.testing.assert_array_equal(out, scores)  # not a view of a reused buffer
    model.predict(X)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        model.backward(np.ones((4, 2)))  # predict kept no caches to run it on


def test_predict_runs_in_eval_mode() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Affine(2, 50, rng=rng, dtype=np.float64), Dropout(0.5, rng=rng)])
    p = model.params()
    clean = X @ p["affine0.W"].value + p["affine0.b"].value
    np.testing.assert_allclose(model.predict(X), clean, rtol=1e-14)  # no unit dropped
    dropped = model.forward(X)
    assert np.any(dropped == 0) and np.any(dropped != 0)  # training forward drops units
    np.testing.assert_allclose(dropped[dropped != 0], 2 * clean[dropped != 0], rtol=1e-14)


def test_summary_text_and_total() -> None:
    expected = "\n".join(
        [
            "---------------------------------------",
            "Layer (type)      Output shape  Param #",
            "---------------------------------------",
            "affine0 (Affine)  (None, 3)           9",
            "relu0 (ReLU)      (None, 3)           0",
            "affine1 (Affine)  (None, 2)           8",
            "---------------------------------------",
            "Total params: 17",
        ]
    )
    model = _mlp()
    assert model.summary((2,)) == expected
    model.forward(X)
    assert model.summary() == expected  # the input shape is remembered from forward


def test_summary_counts_with_thousands_separators() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Affine(784, 1000, rng=rng), ReLU(), Affine(1000, 10, rng=rng)])
    lines = model.summary((784,)).splitlines()
    assert lines[3] == "affine0 (Affine)  (None, 1000)  785,000"
    assert lines[-1] == "Total params: 795,010"


def test_the_data_needs_no_gradient_unless_asked() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Affine(2, 3, rng=rng, dtype=np.float64), ReLU()])
    model.forward(X)
    assert model.backward(np.ones((4, 3))) is None
    assert model.layers["affine0"].needs_input_grad is False  # its dx GEMM is skipped
    model = Sequential([Affine(2, 3, rng=rng, dtype=np.float64), ReLU()], input_grad=True)
    model.forward(X)
    assert model.backward(np.ones((4, 3))).shape == X.shape


def test_what_forward_predict_and_backward_return_is_never_overwritten() -> None:
    rng = np.random.default_rng(0)
    layers = [Tanh(), Affine(2, 2, rng=rng, dtype=np.float64), Tanh()]  # Tanh reuses buffers
    model = Sequential(layers, input_grad=True)
    first = model.forward(X)
    kept = first.copy()
    dx = model.backward(np.ones((4, 2)))
    kept_dx = dx.copy()
    predicted = model.predict(X)
    model.forward(2 * X)
    model.backward(np.full((4, 2), 3.0))
    model.predict(3 * X)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(predicted, kept)
    np.testing.assert_array_equal(dx, kept_dx)


def test_summary_without_a_shape_raises() -> None:
    with pytest.raises(RuntimeError, match="Sequential.summary needs input_shape"):
        _mlp().summary()


def test_an_empty_chain_is_refused() -> None:
    with pytest.raises(ValueError, match="^Sequential needs at least one layer, got none$"):
        Sequential([])


def test_float32_model_keeps_float32() -> None:
    model = _mlp(np.float32)
    scores = model.forward(X.astype(np.float32))
    assert scores.dtype == np.float32
    assert model.backward(np.ones_like(scores)).dtype == np.float32


def test_sgd_training_lowers_the_loss() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, 60)
    x = (centers[y] + 0.5 * rng.standard_normal((60, 2))).astype(np.float32)
    model = Sequential([Affine(2, 16, rng=rng), ReLU(), Affine(16, 3, rng=rng)], input_grad=False)
    loss, optimizer = SoftmaxCrossEntropy(), SGD(model.params().values(), lr=0.1)
    history = []
    for _ in range(100):
        history.append(loss.forward(model.forward(x), y))
        model.backward(loss.backward()[0])
        optimizer.step()
    assert history[-1] < 0.1 * history[0]
    assert np.mean(model.predict(x).argmax(1) == y) > 0.95
