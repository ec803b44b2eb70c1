"""ReadParam: a param of another gate, read as a node of a gradient or tangent graph."""

import numpy as np
from numpy.random import Generator

from gategraph.core.params import Param
from gategraph.layers.base import LAYERS, Adjoints, Builder, Layer


@LAYERS.register("read_param")
class ReadParam(Layer):
    """out = the param's current value (no input).  value: any shape, out: the same.

    A gradient graph reads a gate's param through this node (`affine0.W`), so that
    derivatives with respect to params can be taken again. The param is shared, not copied:
    a graph lists it once, and backward adds this node's gradient to the owner's.
    Backward: dvalue = dout.
    """

    n_inputs = 0
    _shape: tuple[int, ...] | None = None  # the value's shape at the last forward

    def __init__(self, param: Param) -> None:
        super().__init__()
        if not isinstance(param, Param):
            raise TypeError(f"ReadParam needs a Param, got {type(param).__name__}")
        self.params = {"value": param}

    def forward(self) -> np.ndarray:
        value = self.params["value"].value
        self._shape = value.shape
        return value

    def backward(self, dout: np.ndarray) -> tuple[()]:
        self._cached(self._shape)
        self.params["value"].grad[...] = dout
        return ()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return ()

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return None

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[()]]:
        return cls(Param(rng.standard_normal((3, 4)))), ()
