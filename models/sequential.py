"""Model, a one-input graph with a Python-friendly face, and Sequential, a chain of gates."""

from collections.abc import Iterable

import numpy as np

from gategraph.core.params import Param
from gategraph.layers.base import Layer
from gategraph.models.graph import ComputationalGraph


class Model:
    """scores = graph(x) for a ComputationalGraph whose one data input is named `x`.

    `backward(dout)` returns dx, or None when the input was declared with `grad=False`
    (training: the data needs no gradient, which saves the first layer's dx GEMM). What
    `forward`, `predict` and `backward` return is the caller's: no later call overwrites it.
    """

    def __init__(
        self, graph: ComputationalGraph, *, input_shape: tuple[int, ...] | None = None
    ) -> None:
        inputs = [name for name, (layer, _) in graph.nodes().items() if layer is None]
        if inputs != ["x"]:
            raise ValueError(f"Model needs a graph with exactly one input named 'x', got {inputs}")
        self.graph = graph
        self._input_shape = None if input_shape is None else tuple(input_shape)  # for summary

    @property
    def layers(self) -> dict[str, Layer]:
        return self.graph.layers()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._input_shape = x.shape[1:] if isinstance(x, np.ndarray) else np.shape(x)[1:]
        return self.graph.forward(x=x)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """`model(x)` is `model.forward(x)`, as in PyTorch and Keras."""
        return self.forward(x)

    def zero_grad(self) -> None:
        """Accepted for PyTorch habits and does nothing: every backward overwrites the params'
        gradients (never accumulates), so there is nothing to clear between steps."""

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        return self.graph.backward(dout).get("x")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores in eval mode, no caches kept, as a fresh array."""
        return self.graph.predict(x=x)

    def params(self) -> dict[str, Param]:
        return self.graph.params()

    def train(self, mode: bool = True) -> "Model":
        self.graph.train(mode)
        return self

    def eval(self) -> "Model":
        return self.train(False)

    @property
    def training(self) -> bool:
        return self.graph.training

    def summary(self, input_shape: tuple[int, ...] | None = None) -> str:
        """A table of each layer's output shape and parameter count, like Keras's."""
        shape = input_shape if input_shape is not None else self._input_shape
        if shape is None:
            raise RuntimeError(
                f"{type(self).__name__}.summary needs input_shape (or a forward first)"
            )
        self.graph.predict(x=np.ones((1, *shape)))
        rows = [("Layer (type)", "Output shape", "Param #")]
        for name, layer in self.layers.items():
            out_shape = "(None, " + ", ".join(map(str, np.shape(self.graph.value(name))[1:])) + ")"
            count = sum(p.value.size for p in layer.params.values())
            rows.append(
                (f"{name} ({type(layer).__name__})", out_shape.replace(", )", ")"), f"{count:,}")
            )
        total = sum(p.value.size for p in self.params().values())
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [_row(r, widths) for r in rows]
        rule = "-" * len(lines[0])
        return "\n".join([rule, lines[0], rule, *lines[1:], rule, f"Total params: {total:,}"])

    def __repr__(self) -> str:
        inner = ", ".join(type(layer).__name__ for layer in self.layers.values())
        return f"{type(self).__name__}([{inner}])"


class Sequential(Model):
    """out = layers[-1](... layers[0](x)): a chain on the same engine, input named `x`.

    The data needs no gradient unless asked, as in PyTorch: `backward` returns None and the
    first layer skips its dx; `input_grad=True` asks for dx. `input_shape` (one sample's,
    as a config's builder knows it) lets `summary()` run before any forward.
    """

    def __init__(
        self,
        layers: Iterable[Layer],
        *,
        input_grad: bool = False,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        graph = ComputationalGraph()
        previous = graph.input("x", grad=input_grad)
        for layer in layers:
            previous = graph.add(layer, previous)
        if previous == "x":
            raise ValueError("Sequential needs at least one layer, got none")
        super().__init__(graph, input_shape=input_shape)


def _row(cells: tuple[str, str, str], widths: list[int]) -> str:
    return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}"
