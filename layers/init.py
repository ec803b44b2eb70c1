"""Weight initializers: He, Xavier/Glorot and normal, each `(rng, shape, scale) -> array`."""

import numpy as np
from numpy.random import Generator

from gategraph.core.registry import Registry

INITIALIZERS: Registry = Registry("initializer")


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out): Affine W is (in, out); Conv W is (F, C, *kernel) as in PyTorch."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


@INITIALIZERS.register("he")
def he(rng: Generator, shape: tuple[int, ...], scale: float = 0.01) -> np.ndarray:
    """N(0, 2 / fan_in): keeps ReLU activations' variance constant (He et al. 2015)."""
    return rng.standard_normal(shape) * np.sqrt(2.0 / _fans(shape)[0])


@INITIALIZERS.register("xavier")
def xavier(rng: Generator, shape: tuple[int, ...], scale: float = 0.01) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(shape)
    return rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))


INITIALIZERS.register("glorot")(xavier)


@INITIALIZERS.register("normal")
def normal(rng: Generator, shape: tuple[int, ...], scale: float = 0.01) -> np.ndarray:
    """N(0, scale**2), as in the CS231n notes' `0.01 * randn`."""
    return rng.standard_normal(shape) * scale
