"""Conv1D: 1-D convolution (cross-correlation) over sequences, the one-axis Conv2D."""

from typing import ClassVar

import numpy as np
from numpy.random import Generator

from layers.base import LAYERS, Layer
from layers.conv2d import Conv2D


@LAYERS.register("conv1d")
class Conv1D(Conv2D):
    """out[n, f, i] = b[f] + Σ_{c, p} W[f, c, p] · xp[n, c, i·stride + p], xp = x zero-padded
    by `pad` at both ends.  x: (N, C, L), W: (F, C, K), b: (F,),
    out: (N, F, L') with L' = (L + 2 pad - K) // stride + 1.

    Conv2D's im2col with one spatial axis: cols (N, C·K, L'), out[n] = W_flat @ cols[n].
    Backward: db = Σ_{n,i} dout; dW = Σ_n dout[n] @ cols[n]ᵀ; dx by col2im of W_flatᵀ @ dout[n].
    """

    spatial: ClassVar[int] = 1

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        layer = cls(2, 3, 3, stride=2, pad=1, rng=rng, dtype=np.float64)
        return layer, rng.standard_normal((2, 2, 7))
