"""Layer and the LAYERS registry: the contract every gate follows."""

import functools
from typing import Any, ClassVar, Protocol, Self

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.params import Param, empty_aligned
from gategraph.core.registry import Registry


class Builder(Protocol):
    """What a gate's `vjp` and `jvp` build on: a graph's `add` (node names in, a name out)."""

    def add(self, layer: "Layer", *inputs: str, name: str | None = None) -> str: ...


Adjoints = tuple[str | None, ...] | str | None  # one node (or None: no gradient) per input


class Layer:
    """A gate. `forward(*inputs)` caches what `backward(dout)` needs; `backward` writes each
    `Param.grad` in place and returns the inputs' gradients: a single-input gate returns its
    `dx` (None only when a plan set `needs_input_grad` off), a gate with several inputs a
    tuple with one entry per input, None where an input gets no gradient (a loss's labels).

    The same derivative as nodes, for gradient graphs: `vjp(g, inputs, out, dout)` adds gates
    to `g` that compute the adjoint of each input, then of each param (node names in the
    order of `params`), from the node names of the inputs, the params, the output and its
    adjoint `dout`; `jvp(g, inputs, out, tangents)` adds the output's tangent from the
    inputs' and params' tangents (None where zero). A gate without them raises
    NotImplementedError, which the graph reports naming the node.

    Class-level attributes that start with `_` and default to `None` are the cache: `clear_cache`
    resets them, which is how inference (`no_grad`, `predict`) keeps nothing.
    """

    key: ClassVar[str] = ""  # set by the registry
    n_inputs: ClassVar[int] = 1
    training: bool
    feature_axis: ClassVar[int] = 0  # sample axis that in_channels / num_features count
    needs_input_grad: bool = True  # a plan sets False when nothing upstream wants dx
    reuse_buffers: bool = False  # a plan sets True: outputs live in buffers reused per shape
    shape_inputs: ClassVar[tuple[int, ...]] = ()  # inputs read only for their shape and dtype

    def __init__(self) -> None:
        self.params: dict[str, Param] = {}
        self.training = True
        self._buffers: dict[tuple[str, tuple[int, ...], np.dtype], np.ndarray] = {}

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout: np.ndarray) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        raise NotImplementedError(f"{type(self).__name__} has no gradient graph (vjp) yet")

    def jvp(
        self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple[str | None, ...]
    ) -> str | None:
        raise NotImplementedError(f"{type(self).__name__} has no tangent graph (jvp) yet")

    def train(self, mode: bool = True) -> Self:
        self.training = mode
        return self

    def eval(self) -> Self:
        return self.train(False)

    def clear_cache(self) -> None:
        for name in cache_names(type(self)):
            self.__dict__.pop(name, None)

    def output_shape(self, *input_shapes: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output for inputs of these shapes (batch axis included). The probe
        runs in eval mode, so it draws no dropout mask and moves no running statistics."""
        training = self.training
        self.eval()
        try:
            out = self.forward(*[np.ones(s) for s in input_shapes])
        finally:
            self.clear_cache()
            self.train(training)
        return np.shape(out)

    def _cached(self, value: Any) -> Any:
        if value is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before forward: nothing is cached"
            )
        return value

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        """Scratch array `name`: fresh, or reused per shape once a plan set `reuse_buffers`."""
        if not self.reuse_buffers:
            return np.empty(shape, dtype)
        key = (name, shape, dtype)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = empty_aligned(shape, dtype)
        return buf

    def _ones(self, n: int, dtype: DTypeLike) -> np.ndarray:
        """A constant vector of n ones, kept: `ones @ A` sums A's rows as one BLAS call, faster
        than `A.sum(axis=0)` on a minibatch (Affine's db: training steps 8-13% faster on tiny)."""
        key = ("ones", (n,), dtype)
        ones = self._buffers.get(key)
        if ones is None:
            ones = self._buffers[key] = empty_aligned((n,), dtype)
            ones.fill(1)
        return ones

    @classmethod
    def example(cls, rng: Generator) -> tuple["Layer", Any]:
        """A tiny float64 instance and an input (a tuple for several inputs) off any kink."""
        raise NotImplementedError(f"{cls.__name__} has no example")


class ConstantGate(Layer):
    """Base of gates whose output does not depend on their inputs' values (a shape, a count,
    a mask, a running statistic, a one-hot): every input gets gradient zero, and the adjoint
    and tangent are zero (None). A one-input gate caches `_x_shape`, a gate with several
    inputs `_shapes` (one shape per input)."""

    shape_inputs: ClassVar[tuple[int, ...]] = (0,)  # the input is read for its shape only
    _x_shape: tuple[int, ...] | None = None
    _shapes: tuple[tuple[int, ...], ...] | None = None

    def backward(self, dout: np.ndarray) -> Any:
        if self.n_inputs == 1:
            return np.zeros(self._cached(self._x_shape))
        return tuple(np.zeros(shape) for shape in self._cached(self._shapes))

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return None if self.n_inputs == 1 else (None,) * self.n_inputs

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return None


@functools.cache
def cache_names(cls: type) -> tuple[str, ...]:
    """A gate class's cache: attributes starting with `_` declared at class level as None."""
    names = []
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name.startswith("_") and not name.startswith("__") and value is None:
                names.append(name)
    return tuple(names)


LAYERS: Registry[Layer] = Registry("layer")
