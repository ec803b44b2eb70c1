"""Affine: hand-computed forward and backward, params, in-place grads, errors."""

import numpy as np
import pytest

from gategraph.layers.affine import Affine

X = np.array([[1.0, 1.0], [2.0, -1.0]])
W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
B = np.array([0.5, -1.0, 0.0])


def _affine() -> Affine:
    layer = Affine(2, 3, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"].value[...] = W
    layer.params["b"].value[...] = B
    return layer


def test_forward_matches_hand_computed_values() -> None:
    np.testing.assert_array_equal(_affine().forward(X), [[5.5, 6.0, 9.0], [-1.5, -2.0, 0.0]])


def test_forward_flattens_each_sample() -> None:
    out = _affine().forward(X.reshape(2, 1, 2, 1))
    np.testing.assert_array_equal(out, [[5.5, 6.0, 9.0], [-1.5, -2.0, 0.0]])


def test_backward_matches_hand_computed_values() -> None:
    layer = _affine()
    layer.forward(X)
    dx = layer.backward(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(dx, [[1.0, 4.0], [2.0, 5.0]])  # dout Wᵀ
    np.testing.assert_array_equal(layer.params["W"].grad, [[1.0, 2.0, 0.0], [1.0, -1.0, 0.0]])
    np.testing.assert_array_equal(layer.params["b"].grad, [1.0, 1.0, 0.0])


def test_dx_has_the_input_shape() -> None:
    layer = _affine()
    layer.forward(X.reshape(2, 2, 1))
    assert layer.backward(np.ones((2, 3))).shape == (2, 2, 1)


def test_grads_are_written_in_place_and_not_accumulated() -> None:
    layer = _affine()
    grads = {k: p.grad for k, p in layer.params.items()}
    layer.forward(X)
    layer.backward(np.ones((2, 3)))
    layer.backward(np.ones((2, 3)))
    assert all(layer.params[k].grad is g for k, g in grads.items())
    np.testing.assert_array_equal(layer.params["b"].grad, [2.0, 2.0, 2.0])


def test_without_input_grad_only_params_get_gradients() -> None:
    layer = _affine()
    layer.needs_input_grad = False
    layer.forward(X)
    assert layer.backward(np.ones((2, 3))) is None
    np.testing.assert_array_equal(layer.params["W"].grad, [[3.0, 3.0, 3.0], [0.0, 0.0, 0.0]])


def test_params_shapes_dtypes_and_decay() -> None:
    layer = Affine(3, 4, rng=np.random.default_rng(0))
    W, b = layer.params["W"], layer.params["b"]
    assert list(layer.params) == ["W", "b"]
    assert (W.value.shape, b.value.shape) == ((3, 4), (4,))
    assert W.value.dtype == b.value.dtype == W.grad.dtype == np.float32
    assert W.decay and not b.decay
    np.testing.assert_array_equal(b.value, np.zeros(4))
    out = layer.forward(np.ones((2, 3), np.float32))
    assert out.dtype == np.float32


def test_float64_params_when_asked() -> None:
    layer = Affine(3, 4, rng=np.random.default_rng(0), dtype=np.float64)
    assert layer.params["W"].value.dtype == layer.params["b"].value.dtype == np.float64


def test_wrong_feature_count_is_reported() -> None:
    with pytest.raises(ValueError) as info:
        _affine().forward(np.ones((4, 3)))
    assert str(info.value) == "Affine expects 2 features per sample, got x (4, 3)"


@pytest.mark.parametrize("bad", [0, -1])
def test_dimensions_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError) as info:
        Affine(bad, 3, rng=np.random.default_rng(0))
    assert str(info.value) == f"Affine needs in_dim to be a positive integer, got {bad}"


@pytest.mark.parametrize("bad", [2.5, True, "3"])
def test_dimensions_must_be_integers(bad: object) -> None:
    with pytest.raises(TypeError, match="Affine needs out_dim to be an integer, got"):
        Affine(3, bad, rng=np.random.default_rng(0))  # type: ignore[arg-type]


def test_float32_steps_equal_np_matmul_bit_for_bit() -> None:
    # Affine calls np.dot (less dispatch per call than np.matmul): the same BLAS routine, so
    # the same bits, for the output, dW and dx; db, a GEMV against ones, too.
    rng = np.random.default_rng(3)
    layer = Affine(64, 100, rng=rng)
    x = rng.standard_normal((32, 64)).astype(np.float32)
    dout = rng.standard_normal((32, 100)).astype(np.float32)
    W, b = layer.params["W"].value, layer.params["b"].value
    out = layer.forward(x)
    np.testing.assert_array_equal(out, np.matmul(x, W) + b)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, np.matmul(dout, W.T))
    np.testing.assert_array_equal(layer.params["W"].grad, np.matmul(x.T, dout))
    np.testing.assert_array_equal(layer.params["b"].grad, np.matmul(np.ones(32, np.float32), dout))


def test_float64_data_into_a_float32_layer_casts_the_grads() -> None:
    layer = _affine()  # float64 params
    layer32 = Affine(2, 3, rng=np.random.default_rng(0))
    layer32.params["W"].value[...] = W
    layer32.params["b"].value[...] = B
    out = layer32.forward(X)  # float64 data: float64 output, float32 grads
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, _affine().forward(X))
    layer32.backward(np.ones((2, 3)))
    layer.forward(X)
    layer.backward(np.ones((2, 3)))
    assert layer32.params["W"].grad.dtype == np.float32
    np.testing.assert_array_equal(layer32.params["W"].grad, layer.params["W"].grad)
