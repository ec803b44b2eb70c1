"""Conv2D against a naive four-loop convolution (forward and backward), plus its contracts."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_layer, check_model
from gategraph.layers import conv2d
from gategraph.layers.affine import Affine
from gategraph.layers.batch_norm import BatchNorm
from gategraph.layers.conv2d import Conv2D
from gategraph.layers.global_avg_pool import GlobalAvgPool
from gategraph.layers.im2col import col2im
from gategraph.layers.max_pool2d import MaxPool2D
from gategraph.layers.relu import ReLU
from gategraph.models.sequential import Sequential


def conv_naive(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride, pad) -> np.ndarray:
    (sh, sw), (ph, pw) = stride, pad
    F, _, HH, WW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (xp.shape[2] - HH) // sh + 1, (xp.shape[3] - WW) // sw + 1
    out = np.zeros((len(x), F, Ho, Wo))
    for n in range(len(x)):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * sh : i * sh + HH, j * sw : j * sw + WW]
                    out[n, f, i, j] = np.sum(window * W[f]) + b[f]
    return out


def conv_backward_naive(dout, x, W, stride, pad):
    (sh, sw), (ph, pw) = stride, pad
    F, _, HH, WW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for n in range(len(x)):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * sh, i * sh + HH), slice(j * sw, j * sw + WW)
                    dW[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * W[f]
    dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dW, dout.sum(axis=(0, 2, 3))


GEOMETRIES = [  # (x shape, F, kernel, stride, pad)
    ((2, 3, 5, 5), 4, 3, 1, 1),
    ((2, 3, 7, 6), 2, (3, 2), 2, 0),
    ((3, 2, 5, 4), 3, (2, 3), (2, 1), (1, 2)),
    ((2, 3, 6, 6), 4, 3, 2, 1),  # (6 + 2 - 3) // 2 + 1 = 3: the last padded row is unused
    ((2, 4, 3, 3), 5, 1, 1, 0),  # 1x1 convolution
    ((1, 1, 4, 5), 1, (4, 5), 1, 0),  # the kernel covers the whole image
    ((2, 2, 5, 5), 3, 2, 3, 1),  # stride larger than the kernel: some pixels never seen
]


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize(("shape", "F", "kernel", "stride", "pad"), GEOMETRIES)
def test_forward_and_backward_match_the_naive_loops(shape, F, kernel, stride, pad) -> None:
    rng = np.random.default_rng(1)
    layer = Conv2D(shape[1], F, kernel, stride, pad, rng=rng, dtype=np.float64)
    layer.params["b"].value[...] = rng.standard_normal(F)
    W, b = layer.params["W"].value, layer.params["b"].value
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    expected = conv_naive(x, W, b, _pair(stride), _pair(pad))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_ref, dW_ref, db_ref = conv_backward_naive(dout, x, W, _pair(stride), _pair(pad))
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.params["W"].grad, dW_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.params["b"].grad, db_ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("per_chunk", [1, 2])
def test_backward_in_batch_chunks_matches_the_naive_loops(monkeypatch, per_chunk) -> None:
    rng = np.random.default_rng(6)
    layer = Conv2D(2, 3, (3, 2), stride=(1, 2), pad=(1, 0), rng=rng, dtype=np.float64)
    x = rng.standard_normal((5, 2, 4, 5))
    sample_cols_bytes = 2 * 3 * 2 * 4 * 2 * 8  # C·HH·WW·H'·W' float64 entries per sample
    monkeypatch.setattr(conv2d, "_CHUNK_BYTES", per_chunk * sample_cols_bytes)
    chunks = []
    monkeypatch.setattr(conv2d, "col2im", lambda d, *a: chunks.append(len(d)) or col2im(d, *a))
    dout = rng.standard_normal(layer.forward(x).shape)
    dx_ref, *_ = conv_backward_naive(dout, x, layer.params["W"].value, (1, 2), (1, 0))
    np.testing.assert_allclose(layer.backward(dout), dx_ref, rtol=0, atol=1e-10)
    assert chunks == ([1, 1, 1, 1, 1] if per_chunk == 1 else [2, 2, 1])


def test_hand_computed_values() -> None:
    layer = Conv2D(1, 1, 2, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"].value[...] = [[[[1.0, 2.0], [3.0, 4.0]]]]
    layer.params["b"].value[...] = [0.5]
    x = np.arange(9.0).reshape(1, 1, 3, 3)  # [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    out = layer.forward(x)
    # top-left window 0·1 + 1·2 + 3·3 + 4·4 = 27, plus the bias; each step right adds 10, down 30
    np.testing.assert_array_equal(out, [[[[27.5, 37.5], [57.5, 67.5]]]])
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]])
    np.testing.assert_array_equal(layer.params["W"].grad, [[[[8, 12], [20, 24]]]])


@pytest.mark.parametrize(("shape", "F", "kernel", "stride", "pad"), GEOMETRIES[:4])
def test_passes_the_gradient_check(shape, F, kernel, stride, pad) -> None:
    rng = np.random.default_rng(2)
    layer = Conv2D(shape[1], F, kernel, stride, pad, rng=rng, dtype=np.float64)
    check_layer(layer, rng.standard_normal(shape), rng)


def test_float32_stays_float32() -> None:
    rng = np.random.default_rng(0)
    layer = Conv2D(3, 4, 3, pad=1, rng=rng)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == layer.params["W"].grad.dtype == np.float32
    assert layer.params["W"].value.dtype == layer.params["b"].value.dtype == np.float32


def test_params_follow_pytorch_shapes_and_init() -> None:
    layer = Conv2D(3, 8, (3, 5), rng=np.random.default_rng(0), dtype=np.float64)
    W, b = layer.params["W"], layer.params["b"]
    assert W.value.shape == (8, 3, 3, 5) and b.value.shape == (8,)
    assert W.decay and not b.decay
    assert np.all(b.value == 0)
    assert abs(W.value.std() - np.sqrt(2 / (3 * 3 * 5))) < 0.03  # He: fan_in = C·HH·WW = 45
    assert layer.output_shape((2, 3, 10, 10)) == (2, 8, 8, 6)


def test_no_input_gradient_when_not_needed_but_param_grads_still_written() -> None:
    rng = np.random.default_rng(3)
    layer = Conv2D(2, 3, 3, pad=1, rng=rng, dtype=np.float64)
    x, dout = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    layer.forward(x)
    layer.backward(dout)
    dW = layer.params["W"].grad.copy()
    layer.needs_input_grad = False
    assert layer.backward(dout) is None
    np.testing.assert_array_equal(layer.params["W"].grad, dW)


def test_reused_buffers_give_the_fresh_results_every_step() -> None:
    rng = np.random.default_rng(4)
    fresh = Conv2D(2, 3, 3, stride=2, pad=1, rng=rng, dtype=np.float64)
    conv = Conv2D(2, 3, 3, stride=2, pad=1, rng=rng, dtype=np.float64)
    model = Sequential([conv], input_grad=True)
    model.layers["conv2d0"].params["W"].value[...] = fresh.params["W"].value
    for batch in (2, 3, 2, 2):  # each batch shape has its own padded buffer
        x = rng.standard_normal((batch, 2, 5, 5))
        dout = rng.standard_normal((batch, 3, 3, 3))
        np.testing.assert_array_equal(model.forward(x), fresh.forward(x))
        np.testing.assert_array_equal(model.backward(dout), fresh.backward(dout))
        grad = model.layers["conv2d0"].params["W"].grad
        np.testing.assert_array_equal(grad, fresh.params["W"].grad)


def test_backward_leaves_dout_and_input_alone() -> None:
    rng = np.random.default_rng(5)
    layer = Conv2D(2, 2, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 2, 3, 3))
    dout = rng.standard_normal((1, 2, 2, 2))
    x0, dout0 = x.copy(), dout.copy()
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 5), "Conv2D expects x of shape (N, C, H, W), got (2, 3, 5)"),
        ((2, 4, 5, 5), "Conv2D expects 3 input channels, got x (2, 4, 5, 5)"),
        (
            (2, 3, 2, 6),
            "Conv2D: window (3, 3) is larger than the spatial size (2, 6) of x (2, 3, 2, 6)",
        ),
    ],
)
def test_bad_input_shapes_raise_naming_the_layer(shape, message) -> None:
    layer = Conv2D(3, 4, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError) as info:
        layer.forward(np.zeros(shape, np.float32))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"kernel_size": 0},
            "Conv2D needs kernel_size to be a positive integer or 2 of them, got 0",
        ),
        (
            {"kernel_size": (3, 3, 3)},
            "Conv2D needs kernel_size to be a positive integer or 2 of them, got (3, 3, 3)",
        ),
        (
            {"kernel_size": 3, "stride": 0},
            "Conv2D needs stride to be a positive integer or 2 of them, got 0",
        ),
        (
            {"kernel_size": 3, "pad": -1},
            "Conv2D needs pad to be a non-negative integer or 2 of them, got -1",
        ),
        (
            {"kernel_size": 2.5},
            "Conv2D needs kernel_size to be a positive integer or 2 of them, got 2.5",
        ),
    ],
)
def test_bad_geometry_options_raise(options, message) -> None:
    with pytest.raises(ValueError) as info:
        Conv2D(3, 4, **options, rng=np.random.default_rng(0))
    assert str(info.value) == message


def test_bad_channel_counts_raise() -> None:
    with pytest.raises(
        ValueError, match=r"^Conv2D needs out_channels to be a positive integer, got 0$"
    ):
        Conv2D(3, 0, 3, rng=np.random.default_rng(0))


def test_pairs_from_a_config_list_are_accepted() -> None:
    layer = Conv2D(1, 1, [3, 2], stride=[2, 1], pad=[1, 0], rng=np.random.default_rng(0))
    assert (layer.kernel, layer.stride, layer.pad) == ((3, 2), (2, 1), (1, 0))


def test_a_small_convnet_passes_the_gradient_check() -> None:
    rng = np.random.default_rng(7)
    net = [
        Conv2D(2, 4, 3, pad=1, rng=rng, dtype=np.float64),
        BatchNorm(4, dtype=np.float64),
        ReLU(),
        MaxPool2D(2),
        Conv2D(4, 3, (2, 1), stride=(1, 2), rng=rng, dtype=np.float64),
        GlobalAvgPool(),
        Affine(3, 2, rng=rng, dtype=np.float64),
    ]
    check_model(Sequential(net), rng.standard_normal((3, 2, 6, 6)), rng)


def test_backward_before_forward_raises() -> None:
    layer = Conv2D(2, 3, 3, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"^Conv2D\.backward called before forward"):
        layer.backward(np.ones((1, 3, 2, 2), np.float32))
