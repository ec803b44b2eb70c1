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
