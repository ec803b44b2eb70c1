"""MaxPool1D: the maximum of each pooling window of a sequence."""

from typing import ClassVar

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Layer
from gategraph.layers.max_pool2d import MaxPool2D


@LAYERS.register("max_pool1d")
class MaxPool1D(MaxPool2D):
    """out[n, c, i] = max_p x[n, c, i·stride + p] over a window of `pool_size` steps.
    x: (N, C, L), out: (N, C, L') with L' = (L - pool_size) // stride + 1.

    `stride` defaults to `pool_size`. Backward routes dout to each window's argmax (the FIRST
    maximal element on ties, as in PyTorch), adding up where windows overlap.
    """

    spatial: ClassVar[int] = 1

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        values = rng.permutation(2 * 3 * 7) / 10.0  # distinct, 0.1 apart: no ties
        return cls(3, stride=2), values.reshape(2, 3, 7)
