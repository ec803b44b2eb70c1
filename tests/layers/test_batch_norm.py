"""BatchNorm: hand-computed values, running statistics, eval mode, a staged reference backward."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_layer
from gategraph.layers.batch_norm import BatchNorm

EPS = 1e-5


def batchnorm_backward_staged(dout, x, gamma, eps):
    """CS231n's batchnorm_backward, one computational-graph stage at a time, for x (M, D)."""
    M = len(x)
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    dgamma, dbeta = (dout * x_hat).sum(axis=0), dout.sum(axis=0)
    dx_hat = dout * gamma
    dstd = -(dx_hat * xc).sum(axis=0) / std**2
    dvar = 0.5 * dstd / std
    dxc = dx_hat / std + 2 * xc * dvar / M
    dx = dxc - dxc.sum(axis=0) / M
    return dx, dgamma, dbeta


def _as_rows(a):
    """(N, C, H, W) -> (N·H·W, C): the 2-D problem a spatial BatchNorm solves."""
    return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def test_hand_computed_forward_in_training() -> None:
    layer = BatchNorm(2, dtype=np.float64)
    layer.params["gamma"].value[...] = [2.0, 0.5]
    layer.params["beta"].value[...] = [1.0, -1.0]
    x = np.array([[1.0, 2.0], [3.0, 6.0]])  # means 2 and 4, biased variances 1 and 4
    out = layer.forward(x)
    s0, s1 = 1 / np.sqrt(1 + EPS), 2 / np.sqrt(4 + EPS)
    np.testing.assert_allclose(
        out, [[1 - 2 * s0, -1 - 0.5 * s1], [1 + 2 * s0, -1 + 0.5 * s1]], atol=1e-14
    )


def test_running_statistics_after_two_batches_and_eval_uses_them() -> None:
    layer = BatchNorm(2, momentum=0.9, dtype=np.float64)
    layer.forward(np.array([[1.0, 2.0], [3.0, 6.0]]))  # mean (2, 4), var (1, 4)
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.2, 0.4], atol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_var"], [1.0, 1.3], atol=1e-15)
    layer.forward(np.array([[0.0, 0.0], [2.0, 8.0]]))  # mean (1, 4), var (1, 16)
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.28, 0.76], atol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_var"], [1.0, 2.77], atol=1e-15)
    layer.eval()
    x = np.array([[0.28, 0.76 + np.sqrt(2.77 + EPS)], [0.28 + 2 * np.sqrt(1 + EPS), 0.76]])
    np.testing.assert_allclose(layer.forward(x), [[0.0, 1.0], [2.0, 0.0]], atol=1e-14)
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.28, 0.76], atol=1e-15)  # frozen


def test_buffers_are_updated_in_place_so_a_checkpoint_can_restore_them() -> None:
    layer = BatchNorm(3)
    running_mean, running_var = layer.buffers["running_mean"], layer.buffers["running_var"]
    assert list(layer.buffers) == ["running_mean", "running_var"]
    np.testing.assert_array_equal(running_var, np.ones(3, np.float32))
    layer.forward(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    assert (
        layer.buffers["running_mean"] is running_mean
        and layer.buffers["running_var"] is running_var
    )
    assert running_mean.dtype == running_var.dtype == np.float32
    assert "running_mean" not in layer.params


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 5)])
def test_backward_matches_the_staged_reference(shape) -> None:
    rng = np.random.default_rng(1)
    layer = BatchNorm(3, dtype=np.float64)
    gamma = layer.params["gamma"].value
    gamma[...] = rng.uniform(0.5, 2.0, 3)
    x, dout = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    layer.forward(x)
    dx = layer.backward(dout)
    rows = (lambda a: a) if len(shape) == 2 else _as_rows
    dx_ref, dgamma_ref, dbeta_ref = batchnorm_backward_staged(rows(dout), rows(x), gamma, EPS)
    np.testing.assert_allclose(rows(dx), dx_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.params["gamma"].grad, dgamma_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.params["beta"].grad, dbeta_ref, rtol=0, atol=1e-10)


def test_spatial_normalizes_each_channel_over_batch_and_positions() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 2, 5)) * rng.uniform(1, 5, (1, 4, 1, 1))
    spatial, flat = BatchNorm(4, dtype=np.float64), BatchNorm(4, dtype=np.float64)
    out = spatial.forward(x)
    np.testing.assert_allclose(_as_rows(out), flat.forward(_as_rows(x)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-4)  # eps shrinks it slightly
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(spatial.buffers[name], flat.buffers[name], rtol=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 2), (3, 3, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_passes_the_gradient_check(shape, training) -> None:
    rng = np.random.default_rng(3)
    layer, _ = BatchNorm.example(rng)
    layer.buffers["running_mean"][...] = rng.standard_normal(3)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, 3)
    check_layer(layer.train(training), rng.standard_normal(shape), rng)


def test_eval_backward_is_the_affine_map() -> None:
    layer = BatchNorm(2, dtype=np.float64).eval()
    layer.params["gamma"].value[...] = [3.0, -1.0]
    layer.buffers["running_var"][...] = [4.0 - EPS, 0.25 - EPS]
    layer.forward(np.zeros((2, 2)))
    np.testing.assert_allclose(
        layer.backward(np.ones((2, 2))), [[1.5, -2.0], [1.5, -2.0]], atol=1e-12
    )


def test_float32_stays_float32() -> None:
    layer = BatchNorm(3)
    x = np.random.default_rng(4).standard_normal((4, 3, 2, 2)).astype(np.float32)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == layer.params["gamma"].grad.dtype == np.float32
    assert layer.buffers["running_var"].dtype == np.float32


def test_output_shape_leaves_the_running_statistics_alone() -> None:
    layer = BatchNorm(3)
    assert layer.output_shape((2, 3, 4, 4)) == (2, 3, 4, 4)
    np.testing.assert_array_equal(layer.buffers["running_mean"], 0)
    np.testing.assert_array_equal(layer.buffers["running_var"], 1)
    with pytest.raises(
        ValueError, match=r"^BatchNorm expects x of shape \(N, 3, ...\), got \(2, 5\)$"
    ):
        layer.output_shape((2, 5))


def test_params_do_not_decay() -> None:
    layer = BatchNorm(3)
    assert [(k, p.decay) for k, p in layer.params.items()] == [("gamma", False), ("beta", False)]
    np.testing.assert_array_equal(layer.params["gamma"].value, 1)
    np.testing.assert_array_equal(layer.params["beta"].value, 0)


def test_bad_shapes_and_options_raise() -> None:
    with pytest.raises(ValueError) as info:
        BatchNorm(3).forward(np.zeros((2, 4)))
    assert str(info.value) == "BatchNorm expects x of shape (N, 3, ...), got (2, 4)"
    with pytest.raises(ValueError) as info:
        BatchNorm(3, momentum=1.0)
    assert str(info.value) == (
        "BatchNorm needs num_features >= 1, 0 <= momentum < 1 and eps > 0, "
        "got num_features=3, momentum=1.0, eps=1e-05"
    )
    with pytest.raises(
        ValueError, match=r"^BatchNorm needs num_features to be an integer, got 2.5$"
    ):
        BatchNorm(2.5)


def test_backward_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match=r"^BatchNorm\.backward called before forward"):
        BatchNorm(2).backward(np.ones((3, 2), np.float32))
