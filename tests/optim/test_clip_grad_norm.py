"""Global gradient-norm clipping on the flat grad buffer, as torch.nn.utils.clip_grad_norm_."""

import re

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.optim.clip import clip_grad_norm
from gategraph.optim.sgd import SGD


def test_below_max_norm_returns_the_norm_and_leaves_grads_alone() -> None:
    grads = np.array([3.0, 4.0])
    assert clip_grad_norm(grads, max_norm=10.0) == 5.0
    assert np.array_equal(grads, [3.0, 4.0])


def test_above_max_norm_scales_in_place_to_max_norm() -> None:
    grads = np.array([3.0, 4.0])
    assert clip_grad_norm(grads, max_norm=1.0) == 5.0
    np.testing.assert_allclose(grads, [3.0 / (5.0 + 1e-6), 4.0 / (5.0 + 1e-6)], rtol=1e-15)
    assert np.linalg.norm(grads) == pytest.approx(1.0, abs=1e-6)


def test_norm_equal_to_max_norm_is_scaled_by_torchs_coefficient() -> None:
    grads = np.array([3.0, 4.0])
    clip_grad_norm(grads, max_norm=5.0)
    np.testing.assert_allclose(grads, [3.0 * 5.0 / 5.000001, 4.0 * 5.0 / 5.000001], rtol=1e-15)


def test_clips_every_param_through_the_optimizers_flat_buffer() -> None:
    W, b = Param(np.zeros((2, 2), np.float32)), Param(np.zeros(1, np.float32), decay=False)
    optimizer = SGD([W, b], lr=0.1)
    W.grad[...], b.grad[...] = [[1.0, 2.0], [2.0, 0.0]], [4.0]  # norm 5 over both params
    assert clip_grad_norm(optimizer.grads, max_norm=2.5) == 5.0
    np.testing.assert_allclose(W.grad, [[0.5, 1.0], [1.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [2.0], rtol=1e-6)
    assert optimizer.grads.dtype == np.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_norm_is_returned_without_scaling(bad: float) -> None:
    grads = np.array([bad, 1.0, 2.0])
    norm = clip_grad_norm(grads, max_norm=1.0)
    assert np.isnan(norm) if np.isnan(bad) else norm == np.inf
    assert np.array_equal(grads, [bad, 1.0, 2.0], equal_nan=True)


def test_float32_squares_overflowing_still_give_the_finite_norm() -> None:
    grads = np.array([3e20, 4e20], np.float32)  # 9e40 overflows float32; the norm 5e20 does not
    assert clip_grad_norm(grads, max_norm=1.0) == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(grads, [0.6, 0.8], rtol=1e-6)
    assert grads.dtype == np.float32


def test_bad_arguments() -> None:
    with pytest.raises(
        ValueError, match=f"^{re.escape('clip_grad_norm needs max_norm > 0, got 0')}$"
    ):
        clip_grad_norm(np.ones(2), max_norm=0)
    with pytest.raises(TypeError, match="^clip_grad_norm needs grads as a NumPy array, got list$"):
        clip_grad_norm([1.0, 2.0], max_norm=1.0)
