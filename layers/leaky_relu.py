"""LeakyReLU: a ReLU with a small slope for negative inputs."""

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number
from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer
from gategraph.layers.elementwise import Multiply, Step, as_float


@LAYERS.register("leaky_relu")
class LeakyReLU(Layer):
    """out = x if x > 0 else alpha * x, elementwise, 0 <= alpha < 1.  x: any shape, out: same.

    Backward: dx = dout where x > 0, else alpha * dout (the kink at 0 takes the slope alpha).
    """

    _slope: np.ndarray | None = None  # 1 where x > 0, alpha elsewhere, at the last forward

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        check_number("LeakyReLU", "alpha", alpha)
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU needs 0 <= alpha < 1, got {alpha}")
        self.alpha = alpha

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        slope = self._buffer("slope", x.shape, x.dtype)
        slope.fill(self.alpha)
        np.copyto(slope, 1, where=x > 0)
        self._slope = slope
        return np.multiply(x, slope, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        slope = self._cached(self._slope)
        return np.multiply(dout, slope, out=self._buffer("dx", slope.shape, slope.dtype))

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, g.add(Step(low=self.alpha), inputs[0]))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], g.add(Step(low=self.alpha), inputs[0]))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        magnitude = rng.uniform(0.1, 1.0, (4, 5))  # keep off the kink at 0
        return cls(alpha=0.1), magnitude * rng.choice([-1.0, 1.0], (4, 5))
