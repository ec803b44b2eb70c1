"""Dropout: inverted dropout, with a mask that can be frozen for gradient checks."""

from typing import Self

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number
from gategraph.layers.base import LAYERS, Adjoints, Builder, ConstantGate, Layer
from gategraph.layers.elementwise import Multiply, as_float


@LAYERS.register("dropout")
class Dropout(Layer):
    """Training: out = x * mask / (1 - p), mask_i ~ Bernoulli(1 - p) drawn from `rng` (each
    unit is dropped with probability p). Evaluation: out = x. 0 <= p < 1; x: any shape.

    Scaling at training time ("inverted" dropout) keeps E[out] = x, so evaluation needs no
    rescaling. While `frozen` (see `freeze`), the same mask is reused on every forward,
    which makes a gradient check deterministic. Backward: dx = dout * mask / (1 - p) after a
    training forward, dx = dout after an evaluation one.
    """

    _mask: np.ndarray | None = None  # mask / (1 - p) of the last training forward
    _trained: bool | None = None  # whether the last forward ran in training mode

    def __init__(self, p: float = 0.5, *, rng: Generator) -> None:
        super().__init__()
        check_number("Dropout", "p", p)
        if not 0 <= p < 1:
            raise ValueError(f"Dropout needs 0 <= p < 1, got {p}")
        if not isinstance(rng, Generator):
            raise TypeError(f"Dropout needs rng to be a numpy Generator, got {type(rng).__name__}")
        self.p, self.rng = p, rng
        self.frozen = False
        self._frozen_mask: np.ndarray | None = None  # not a cache: clear_cache keeps it

    def freeze(self) -> Self:
        """Reuse one mask (drawn at the next training forward) until `unfreeze`."""
        self.frozen = True
        return self

    def unfreeze(self) -> Self:
        self.frozen, self._frozen_mask = False, None
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        if not self.training:
            self._trained, self._mask = False, None
            return x
        mask = self._frozen_mask if self.frozen else None
        if mask is None:
            mask = self._draw(x.shape, x.dtype)
            self._frozen_mask = mask if self.frozen else None
        elif mask.shape != x.shape or mask.dtype != x.dtype:
            raise ValueError(
                f"Dropout is frozen with a {mask.dtype} mask of shape {mask.shape}, got x "
                f"{x.dtype} {x.shape}; call unfreeze() first"
            )
        self._trained, self._mask = True, mask
        return np.multiply(x, mask, out=self._buffer("out", x.shape, x.dtype))

    def _draw(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        # float64 whatever the dtype (one seed, one mask), drawn into a reused buffer
        u = self.rng.random(shape, out=self._buffer("uniform", shape, np.dtype(np.float64)))
        mask = np.greater_equal(u, self.p, out=self._buffer("mask", shape, dtype))
        mask *= 1 / (1 - self.p)
        return mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self._cached(self._trained):
            return dout
        mask = self._mask
        return np.multiply(dout, mask, out=self._buffer("dx", mask.shape, mask.dtype))

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, g.add(DropoutMask(self), out))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], g.add(DropoutMask(self), out))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(0.5, rng=rng).freeze(), rng.standard_normal((4, 5))


@LAYERS.register("dropout_mask")
class DropoutMask(ConstantGate):
    """out = the mask a Dropout gate multiplies by (mask / (1 - p)): ones in eval mode, the
    frozen mask while frozen; a training Dropout that is not frozen draws a new mask every run,
    so its gradient graph refuses to run (RuntimeError) rather than use another mask.
    out_of_dropout: that gate's output (read for its shape: the gate runs first).  Backward: 0.
    """

    def __init__(self, dropout: Dropout) -> None:
        super().__init__()
        if not isinstance(dropout, Dropout):
            raise TypeError(f"DropoutMask needs a Dropout gate, got {type(dropout).__name__}")
        self.dropout = dropout

    def forward(self, out_of_dropout: np.ndarray) -> np.ndarray:
        like = np.asarray(out_of_dropout)
        self._x_shape = like.shape
        if not self.dropout.training:
            return np.ones(like.shape, like.dtype)
        if self.dropout._frozen_mask is None:
            raise RuntimeError(
                "Dropout in training mode draws a new mask every run, so its gradient graph "
                "would use another one: freeze() it (or use eval mode) before running gradients"
            )
        return self.dropout._frozen_mask

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        dropout, x = Dropout.example(rng)
        return cls(dropout), dropout.forward(x)
