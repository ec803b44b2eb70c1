"""What a gradient check runs: a float64 copy of a layer, loss or graph behind one interface."""

import copy
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from gategraph.core.params import Param
from gategraph.layers.base import Layer


class ContractError(Exception):
    """backward broke the calling convention so badly that nothing can be compared."""


class LayerTarget:
    """A deep copy of `layer` in float64 (needs_input_grad on, frozen if it has `freeze()`) fed
    copies of `inputs`. Its backward returns dx for one input, a tuple of one gradient per
    input for several (None where an input gets no gradient, as a loss's labels).
    """

    def __init__(self, layer: Layer, inputs: tuple[Any, ...], node: str | None = None) -> None:
        who = type(layer).__name__
        self.name = who if node is None else f"node {node!r} ({who})"
        n = getattr(layer, "n_inputs", 1)
        if len(inputs) != n:
            raise ValueError(f"gradcheck: {self.name} takes {n} input(s), got {len(inputs)}")
        self.notes: list[str] = []
        self.layer = copy.deepcopy(layer)
        self.layer.needs_input_grad = True
        _prepare([(self.name, self.layer)], self.notes)
        self.input_labels = _input_labels(self.layer, n)
        self.inputs = [
            _float64(x, label, self.notes)
            for x, label in zip(inputs, self.input_labels, strict=True)
        ]
        self.params: list[tuple[str, Param]] = [
            (f"param {k}", p) for k, p in self.layer.params.items()
        ]
        self.layers = {self.name: self.layer}
        # a single input's None is a missing dx; a tuple's None says "no gradient" on purpose
        self.strict = n == 1

    def forward(self) -> Any:
        return self.layer.forward(*self.inputs)

    def backward(self, dout: Any) -> list[Any]:
        """One gradient (or None) per input."""
        grads, n = self.layer.backward(dout), len(self.inputs)
        if n == 1:
            if isinstance(grads, tuple | list):
                raise ContractError("backward returned a tuple for 1 input: return dx itself")
            return [grads]
        if not isinstance(grads, tuple | list):
            raise ContractError(
                f"backward returned one array for {n} inputs: "
                "return a tuple, one gradient per input"
            )
        if len(grads) != n:
            raise ContractError(f"backward returned {len(grads)} gradients for {n} inputs")
        return list(grads)


class GraphTarget:
    """A deep copy of a ComputationalGraph in float64 fed copies of `inputs`, with the
    gradients of the inputs in `wanted` asked for. Only the gates that lead to the output are
    checked (their params and the inputs backward returns)."""

    strict = False  # an input with no gradient was declared grad=False: skipped with a note

    def __init__(
        self, graph: Any, inputs: Mapping[str, Any], name: str, wanted: tuple[str, ...] = ()
    ) -> None:
        if not isinstance(inputs, Mapping):
            raise TypeError(
                f"gradcheck of {name} needs inputs as a dict {{input name: array}}, "
                f"got {type(inputs).__name__}"
            )
        self.name = name
        self.notes: list[str] = []
        self.graph = copy.deepcopy(graph)
        for input_name in wanted:
            self.graph.set_input_grad(input_name, True)
        _prepare(list(self.graph.layers().items()), self.notes)
        self.input_labels = [f"input {k}" for k in inputs]
        self.inputs = [_float64(x, f"input {k}", self.notes) for k, x in inputs.items()]
        self.names = list(inputs)
        self.forward()  # compiles the plan, which fixes the order and lays params out
        nodes = self.graph.nodes()
        self.order = [n for n in self.graph.order() if nodes[n][0] is not None]
        self.layers: dict[str, Layer] = {n: nodes[n][0] for n in self.order}
        self.params = [
            (f"param {n}.{k}", p)
            for n, layer in self.layers.items()
            for k, p in layer.params.items()
        ]

    def forward(self) -> Any:
        return self.graph.forward(**dict(zip(self.names, self.inputs, strict=True)))

    def backward(self, dout: Any) -> list[Any]:
        grads = self.graph.backward(dout)
        return [grads.get(name) for name in self.names]

    def gate_inputs(self) -> dict[str, tuple[Layer, tuple[Any, ...]]]:
        """{node: (gate, copies of the inputs it saw)} after a fresh forward, in running order."""
        self.forward()
        nodes = self.graph.nodes()
        return {
            n: (nodes[n][0], tuple(np.array(self.graph.value(i), copy=True) for i in nodes[n][1]))
            for n in self.order
        }


def is_graph(obj: Any) -> bool:
    return all(callable(getattr(obj, m, None)) for m in ("nodes", "layers", "value", "forward"))


def _prepare(layers: list[tuple[str, Layer]], notes: list[str]) -> None:
    """Cast every layer's params to float64 and freeze layers that have `freeze()`, with notes."""
    cast, frozen = [], []
    for name, layer in layers:
        for p in layer.params.values():
            if p.value.dtype.kind == "f" and p.value.dtype != np.float64:
                cast.append(f"{name} ({p.value.dtype})")
                p.value = p.value.astype(np.float64)
                p.grad = np.zeros_like(p.value)
        if callable(getattr(layer, "freeze", None)):
            if callable(getattr(layer, "unfreeze", None)):
                layer.unfreeze()  # a mask frozen in float32 would not fit float64 inputs
            layer.freeze()
            frozen.append(name)
    if cast:
        notes.append(f"checked on a float64 copy: cast {', '.join(dict.fromkeys(cast))} to float64")
    if frozen:
        notes.append(f"frozen with freeze() for the check: {', '.join(frozen)}")


def _float64(x: Any, label: str, notes: list[str]) -> np.ndarray:
    """A private copy (perturbed in place by the check), float64 if floating-point."""
    array = np.asarray(x)
    if array.dtype.kind != "f":
        return np.array(array, copy=True)
    if array.dtype != np.float64:
        notes.append(f"{label} was {array.dtype}: checked in float64")
    return array.astype(np.float64, copy=True)


def _input_labels(layer: Layer, n: int) -> list[str]:
    """ "input 0 (x)", named after forward's parameters when they can be read."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    try:
        signature = inspect.signature(layer.forward)
        names = [p.name for p in signature.parameters.values() if p.kind in kinds]
    except (TypeError, ValueError):
        names = []
    return [f"input {i} ({names[i]})" if len(names) == n else f"input {i}" for i in range(n)]
