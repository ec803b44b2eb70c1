"""Conv1D against a naive three-loop convolution (forward and backward), plus its contracts."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_layer
from gategraph.layers.conv1d import Conv1D


def conv1d_naive(x, W, b, stride, pad):
    F, _, K = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    Lo = (xp.shape[2] - K) // stride + 1
    out = np.zeros((len(x), F, Lo))
    for n in range(len(x)):
        for f in range(F):
            for i in range(Lo):
                out[n, f, i] = np.sum(xp[n, :, i * stride : i * stride + K] * W[f]) + b[f]
    return out


def conv1d_backward_naive(dout, x, W, stride, pad):
    F, _, K = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for n in range(len(x)):
        for f in range(F):
            for i in range(dout.shape[2]):
                steps = slice(i * stride, i * stride + K)
                dW[f] += dout[n, f, i] * xp[n, :, steps]
                dxp[n, :, steps] += dout[n, f, i] * W[f]
    return dxp[:, :, pad : pad + x.shape[2]], dW, dout.sum(axis=(0, 2))


@pytest.mark.parametrize(
    ("shape", "F", "K", "stride", "pad"),
    [
        ((2, 3, 10), 4, 3, 1, 1),
        ((2, 2, 11), 3, 5, 2, 0),
        ((3, 1, 6), 2, 2, 3, 2),
        ((1, 4, 5), 1, 5, 1, 0),
    ],
)
def test_forward_and_backward_match_the_naive_loops(shape, F, K, stride, pad) -> None:
    rng = np.random.default_rng(1)
    layer = Conv1D(shape[1], F, K, stride, pad, rng=rng, dtype=np.float64)
    layer.params["b"].value[...] = rng.standard_normal(F)
    W, b = layer.params["W"].value, layer.params["b"].value
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv1d_naive(x, W, b, stride, pad), rtol=0, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_ref, dW_ref, db_ref = conv1d_backward_naive(dout, x, W, stride, pad)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.params["W"].grad, dW_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.params["b"].grad, db_ref, rtol=0, atol=1e-10)


def test_hand_computed_values() -> None:
    layer = Conv1D(1, 1, 2, pad=1, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"].value[...] = [[[1.0, -1.0]]]
    x = np.array([[[1.0, 4.0, 9.0]]])  # padded: 0 1 4 9 0
    np.testing.assert_array_equal(layer.forward(x), [[[-1.0, -3.0, -5.0, 9.0]]])
    dx = layer.backward(np.array([[[1.0, 2.0, 3.0, 4.0]]]))
    np.testing.assert_array_equal(dx, [[[-1 + 2, -2 + 3, -3 + 4]]])  # dx[k] = -dout[k] + dout[k+1]
    np.testing.assert_array_equal(layer.params["W"].grad, [[[1 * 2 + 4 * 3 + 9 * 4, 1 + 8 + 27]]])


def test_passes_the_gradient_check_and_keeps_float32() -> None:
    rng = np.random.default_rng(2)
    check_layer(
        Conv1D(3, 2, 4, stride=2, pad=1, rng=rng, dtype=np.float64),
        rng.standard_normal((2, 3, 9)),
        rng,
    )
    layer = Conv1D(3, 2, 3, rng=rng)
    out = layer.forward(np.ones((2, 3, 6), np.float32))
    assert out.dtype == layer.backward(out).dtype == layer.params["W"].grad.dtype == np.float32
    assert layer.params["W"].value.shape == (2, 3, 3)


def test_bad_shapes_and_options_raise_naming_conv1d() -> None:
    layer = Conv1D(3, 4, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError) as info:
        layer.forward(np.zeros((2, 3, 5, 5)))
    assert str(info.value) == "Conv1D expects x of shape (N, C, L), got (2, 3, 5, 5)"
    with pytest.raises(ValueError) as info:
        Conv1D(3, 4, 4, pad=1, rng=np.random.default_rng(0)).forward(np.zeros((2, 3, 1)))
    assert str(info.value) == (
        "Conv1D: window (4,) is larger than the padded spatial size (3,) "
        "of x (2, 3, 1) with pad (1,)"
    )
    with pytest.raises(ValueError) as info:
        Conv1D(3, 4, (3, 3), rng=np.random.default_rng(0))
    assert str(info.value) == "Conv1D needs kernel_size to be a positive integer, got (3, 3)"


def test_backward_before_forward_raises() -> None:
    layer = Conv1D(2, 3, 3, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"^Conv1D\.backward called before forward"):
        layer.backward(np.ones((1, 3, 2), np.float32))
