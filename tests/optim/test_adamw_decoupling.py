"""AdamW's decay shrinks weights directly; Adam's L2 goes through m and v and gets normalized."""

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.optim.adam import Adam
from gategraph.optim.adamw import AdamW


def one_step(cls: type[Adam], **options: float) -> tuple[np.ndarray, np.ndarray]:
    W, b = Param(np.array([2.0, -1.0])), Param(np.array([3.0]), decay=False)
    W.grad[...], b.grad[...] = [0.0, 0.5], [0.0]
    cls([W, b], lr=0.1, **options).step()
    return W.value, b.value


def test_zero_grad_weight_shrinks_by_lr_times_decay_under_adamw() -> None:
    W, b = one_step(AdamW, weight_decay=0.01)
    # w (1 - lr wd) = 2 * 0.999; the raw grad is 0, so m = 0 and Adam's part adds nothing
    assert W[0] == 2.0 * (1 - 0.1 * 0.01)
    assert b[0] == 3.0  # decay=False, zero grad: untouched
    # second weight: (-1)(0.999) - lr * g / (|g| + eps) for g = 0.5 (first step: m^ = g, v^ = g^2)
    assert W[1] == pytest.approx(-0.999 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-15)


def test_adam_l2_is_normalized_into_a_full_lr_step() -> None:
    W, b = one_step(Adam, weight_decay=0.01)
    # g = 0 + 0.01 * 2 = 0.02; the first step moves by lr * g / (|g| + eps), about lr
    assert W[0] == pytest.approx(2.0 - 0.1 * 0.02 / (0.02 + 1e-8), rel=1e-15)
    assert b[0] == 3.0
    decoupled, _ = one_step(AdamW, weight_decay=0.01)
    assert 2.0 - W[0] > 40 * (2.0 - decoupled[0])  # 0.1 against AdamW's 0.002


def test_without_decay_adamw_equals_adam_bit_for_bit() -> None:
    for W_adamw, W_adam in zip(one_step(AdamW, weight_decay=0.0), one_step(Adam), strict=True):
        assert np.array_equal(W_adamw, W_adam)


def test_adamw_default_decay_is_torchs_and_adds_no_penalty() -> None:
    optimizer = AdamW([Param(np.array([1.0, 2.0]))])
    assert optimizer.weight_decay == 1e-2
    assert optimizer.penalty() == 0.0
    assert Adam([Param(np.array([1.0, 2.0]))], weight_decay=0.1).penalty() == pytest.approx(0.25)
