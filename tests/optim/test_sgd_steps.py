"""SGD single steps computed by hand: W = [1, -2] (decayed), b = [0.5] (not), lr = 0.1,
grads dW = [0.1, 0.2], db = [0.3]."""

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.optim.sgd import SGD


def two_steps(**options: object) -> list[tuple[np.ndarray, np.ndarray]]:
    W, b = Param(np.array([1.0, -2.0])), Param(np.array([0.5]), decay=False)
    optimizer = SGD([b, W], lr=0.1, **options)
    seen = []
    for _ in range(2):
        W.grad[...], b.grad[...] = [0.1, 0.2], [0.3]
        optimizer.step()
        seen.append((W.value.copy(), b.value.copy()))
    return seen


def test_plain_step_decays_weights_only() -> None:
    (W, b), _ = two_steps(weight_decay=0.01)
    # W - 0.1 * (dW + 0.01 W) = [1 - 0.1 * 0.11, -2 - 0.1 * 0.18];  b - 0.1 * 0.3
    np.testing.assert_allclose(W, [0.989, -2.018], rtol=1e-15)
    np.testing.assert_allclose(b, [0.47], rtol=1e-15)


def test_momentum_accumulates_velocity() -> None:
    (W1, b1), (W2, b2) = two_steps(momentum=0.9)
    # step 1: v = g;  step 2: v = 0.9 g + g = 1.9 g
    np.testing.assert_allclose(W1, [0.99, -2.02], rtol=1e-15)
    np.testing.assert_allclose(b1, [0.47], rtol=1e-15)
    np.testing.assert_allclose(W2, [0.99 - 0.019, -2.02 - 0.038], rtol=1e-15)
    np.testing.assert_allclose(b2, [0.47 - 0.057], rtol=1e-15)


def test_nesterov_looks_ahead() -> None:
    (W1, b1), (W2, b2) = two_steps(momentum=0.9, nesterov=True)
    # step 1: v = g, update g + 0.9 v = 1.9 g;  step 2: v = 1.9 g, update g + 0.9 * 1.9 g = 2.71 g
    np.testing.assert_allclose(W1, [0.981, -2.038], rtol=1e-15)
    np.testing.assert_allclose(b1, [0.443], rtol=1e-15)
    np.testing.assert_allclose(W2, [0.981 - 0.0271, -2.038 - 0.0542], rtol=1e-15)
    np.testing.assert_allclose(b2, [0.443 - 0.0813], rtol=1e-15)


def test_penalty_is_half_weight_decay_times_squared_weights() -> None:
    params = [Param(np.array([1.0, -2.0])), Param(np.array([3.0]), decay=False)]
    assert SGD(params, lr=0.1, weight_decay=0.1).penalty() == pytest.approx(0.25, rel=1e-15)
    assert SGD(params, lr=0.1).penalty() == 0.0
