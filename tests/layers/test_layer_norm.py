"""LayerNorm: hand-computed values, a loop reference backward, the gradient check."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_layer
from gategraph.layers.layer_norm import LayerNorm

EPS = 1e-5


def layernorm_backward_rows(dout, x, gamma, eps):
    """Row by row, the staged backward of x̂ = (x - mean) / sqrt(var + eps) for x (R, D)."""
    dx = np.zeros_like(x)
    for r in range(len(x)):
        xc = x[r] - x[r].mean()
        std = np.sqrt((xc**2).mean() + eps)
        dx_hat = dout[r] * gamma
        dvar = -0.5 * (dx_hat * xc).sum() / std**3
        dxc = dx_hat / std + 2 * xc * dvar / len(xc)
        dx[r] = dxc - dxc.mean()
    return dx


def test_hand_computed_forward() -> None:
    layer = LayerNorm(2, dtype=np.float64)
    layer.params["gamma"].value[...] = [2.0, 1.0]
    layer.params["beta"].value[...] = [0.0, 10.0]
    x = np.array([[1.0, 3.0], [2.0, 8.0]])  # rows: mean 2, var 1; mean 5, var 9
    s0, s1 = 1 / np.sqrt(1 + EPS), 3 / np.sqrt(9 + EPS)
    np.testing.assert_allclose(
        layer.forward(x), [[-2 * s0, 10 + s0], [-2 * s1, 10 + s1]], atol=1e-14
    )
    np.testing.assert_allclose(
        layer.eval().forward(x), [[-2 * s0, 10 + s0], [-2 * s1, 10 + s1]], atol=1e-14
    )


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
def test_backward_matches_the_loop_reference(shape) -> None:
    rng = np.random.default_rng(1)
    layer = LayerNorm(5, dtype=np.float64)
    gamma = layer.params["gamma"].value
    gamma[...] = rng.uniform(0.5, 2.0, 5)
    x, dout = rng.standard_normal(shape) * 2 - 1, rng.standard_normal(shape)
    out = layer.forward(x)
    dx = layer.backward(dout)
    rows = x.reshape(-1, 5)
    x_hat = (out.reshape(-1, 5) - layer.params["beta"].value) / gamma
    expected = layernorm_backward_rows(dout.reshape(-1, 5), rows, gamma, EPS)
    np.testing.assert_allclose(dx.reshape(-1, 5), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        layer.params["gamma"].grad, (dout.reshape(-1, 5) * x_hat).sum(0), atol=1e-10
    )
    np.testing.assert_allclose(layer.params["beta"].grad, dout.reshape(-1, 5).sum(0), atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 5), (2, 2, 5)])
def test_passes_the_gradient_check(shape) -> None:
    rng = np.random.default_rng(2)
    layer, _ = LayerNorm.example(rng)
    check_layer(layer, rng.standard_normal(shape), rng)


def test_float32_stays_float32_and_params_do_not_decay() -> None:
    layer = LayerNorm(4)
    out = layer.forward(np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32))
    assert out.dtype == layer.backward(np.ones_like(out)).dtype == np.float32
    assert not any(p.decay for p in layer.params.values())


def test_bad_shapes_and_options_raise() -> None:
    with pytest.raises(ValueError) as info:
        LayerNorm(4).forward(np.zeros((2, 3)))
    assert str(info.value) == "LayerNorm expects x of shape (..., 4), got (2, 3)"
    with pytest.raises(ValueError) as info:
        LayerNorm(4, eps=0)
    assert str(info.value) == "LayerNorm needs num_features >= 1 and eps > 0, got 4 and 0"


def test_backward_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match=r"^LayerNorm\.backward called before forward"):
        LayerNorm(2).backward(np.ones((3, 2), np.float32))
