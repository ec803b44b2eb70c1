"""Every registered layer and loss passes the full gradient check on its own example."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_layer, check_loss
from gategraph.layers import LAYERS
from gategraph.losses import LOSSES


@pytest.mark.parametrize("name", LAYERS.names())
def test_layer_backward_matches_finite_differences(name: str) -> None:
    rng = np.random.default_rng(0)
    layer, x = LAYERS.get(name).example(rng)
    check_layer(layer, x, rng)  # float64, centered differences, rel. error <= 1e-7


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_backward_matches_finite_differences(name: str) -> None:
    rng = np.random.default_rng(0)
    loss, (scores, y) = LOSSES.get(name).example(rng)
    result = check_loss(loss, scores, y, rng)
    tensors = [row.tensor for row in result.rows]
    assert tensors[0] == "input 0 (scores)" and "input 1 (y)" not in tensors  # labels: no grad


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_backward_returns_one_entry_per_input(name: str) -> None:
    rng = np.random.default_rng(0)
    loss, (scores, y) = LOSSES.get(name).example(rng)
    loss.forward(scores, y)
    dscores, dy = loss.backward()
    assert dy is None and dscores.shape == scores.shape  # the labels get no gradient


@pytest.mark.parametrize("name", LAYERS.names())
def test_layer_backward_returns_dx_or_one_entry_per_input(name: str) -> None:
    rng = np.random.default_rng(0)
    layer, x = LAYERS.get(name).example(rng)
    inputs = x if isinstance(x, tuple) else (x,)
    out = layer.forward(*inputs)
    grads = layer.backward(np.ones_like(out))
    if layer.n_inputs == 1:
        assert isinstance(grads, np.ndarray) and grads.shape == x.shape
    else:
        assert isinstance(grads, tuple) and [g.shape for g in grads] == [a.shape for a in x]
