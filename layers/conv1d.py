"""Conv1D: 1-D convolution (cross-correlation) over sequences, the one-axis Conv2D."""

from typing import ClassVar

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Layer
from gategraph.layers.conv2d import Conv2D


@LAYERS.register("conv1d")
class Conv1D(Conv2D):
    """out[n, f, i] = b[f] + Σ_{c, p} W[f, c, p] · xp[n, c, i·stride + p], xp = x zero-padded
    by `pad` at both ends.  x: (N, C, L), W: (F, C, K), b: (F,),
    out: (N, F, L') with L' = (L + 2 pad - K) // stride + 1.

    Conv2D's im2col with one spatial axis: cols[n] (C·K + 1, L') ending in a row of ones,
    out[n] = [W_flat | b] @ cols[n]. Backward: [dW_flat | db] = Σ_n dout[n] @ cols[n]ᵀ;
    dx by col2im of dcols[n] = W_flatᵀ @ dout[n]. W is (F, C, K) as in PyTorch's Conv1d.
    """

    spatial: ClassVar[int] = 1

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(2, 3, 3, stride=2, pad=1, rng=rng, dtype=np.float64)
        return layer, rng.standard_normal((2, 2, 7))
