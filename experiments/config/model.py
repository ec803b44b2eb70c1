"""The config's model section: a chain of `layers` or a `graph` of named nodes, and the loss."""

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from gategraph.core.toposort import CycleError, toposort
from gategraph.experiments.config.blocks import MISSING, Field, fields, typed
from gategraph.experiments.config.checks import NAME, Check, mapping, need, optional
from gategraph.experiments.config.errors import ConfigError, Key
from gategraph.experiments.config.yamlio import show
from gategraph.layers import LAYERS
from gategraph.losses import LOSSES


def model_section(value: Any, key: Key) -> dict[str, Any]:
    """model: `layers` (a chain) or `graph` (named nodes) and `output`, plus `loss`."""
    spec = mapping(value, key)
    loss: Field = ({"type": "softmax_cross_entropy"}, _loss)
    if ("layers" in spec) == ("graph" in spec):
        raise ConfigError(
            "needs exactly one of 'layers' (a chain) or 'graph' (a DAG of named nodes)", key
        )
    if "layers" in spec:
        return fields(spec, key, {"layers": (MISSING, _layers), "loss": loss})
    model = fields(
        spec, key, {"graph": (MISSING, _graph), "output": (None, optional(NAME)), "loss": loss}
    )
    names = [node["name"] for node in model["graph"]]
    if model["output"] is None:
        model["output"] = names[-1]
    elif model["output"] not in names:
        raise ConfigError(_unknown_node(model["output"], names), (*key, "output"))
    used = _feeding(model["graph"], model["output"])
    for i, name in enumerate(names):
        if name not in used:
            raise ConfigError(
                f"node {name!r} does not lead to the output {model['output']!r}: "
                "remove it, or make it the output",
                (*key, "graph", i),
            )
    return model


def _feeding(nodes: Sequence[Mapping[str, Any]], output: str) -> set[str]:
    """The names of `output` and of every node it depends on."""
    inputs = {node["name"]: node["inputs"] for node in nodes}
    used, todo = {output}, [output]
    while todo:
        for source in inputs.get(todo.pop(), ()):
            if source not in used:
                used.add(source)
                todo.append(source)
    return used


def _loss(value: Any, key: Key) -> dict[str, Any]:
    return typed(value, key, LOSSES)


def _layers(value: Any, key: Key) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"must be a non-empty list of layers, got {show(value)}", key)
    layers = []
    for i, spec in enumerate(value):
        layer = typed(spec, (*key, i), LAYERS)
        if (n := LAYERS.get(layer["type"]).n_inputs) != 1:
            raise ConfigError(
                f"layer {layer['type']!r} takes {n} inputs, a chain gives one: use model.graph",
                (*key, i, "type"),
            )
        layers.append(layer)
    return layers


def _graph(value: Any, key: Key) -> list[dict[str, Any]]:
    """model.graph: nodes `{name, type, inputs, **options}` in any order; `x` is the data."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"must be a non-empty list of nodes, got {show(value)}", key)
    nodes = [_node(spec, (*key, i)) for i, spec in enumerate(value)]
    names: list[str] = ["x"]
    for i, node in enumerate(nodes):
        if node["name"] in names:
            said = "the data input" if node["name"] == "x" else "a node"
            raise ConfigError(f"{node['name']!r} already names {said}", (*key, i, "name"))
        names.append(node["name"])
    for i, node in enumerate(nodes):
        for j, source in enumerate(node["inputs"]):
            if source not in names:
                raise ConfigError(_unknown_node(source, names), (*key, i, "inputs", j))
    try:
        graph_order(nodes)
    except ValueError as err:
        raise ConfigError(str(err), key) from None
    return nodes


def _node(value: Any, key: Key) -> dict[str, Any]:
    """A graph node: `name`, `inputs` (node names or x), then a layer block."""
    spec = mapping(value, key)
    name = NAME(need(spec, "name", key, "a name other nodes use as input"), (*key, "name"))
    inputs = _INPUTS(need(spec, "inputs", key, "a list of node names, or x"), (*key, "inputs"))
    rest = {k: v for k, v in spec.items() if k not in ("name", "inputs")}
    layer = typed(rest, key, LAYERS, extra=("name", "inputs"))
    if (n := LAYERS.get(layer["type"]).n_inputs) != len(inputs):
        raise ConfigError(
            f"layer {layer['type']!r} takes {n} input(s), got {len(inputs)}", (*key, "inputs")
        )
    return {"name": name, "type": layer.pop("type"), "inputs": inputs, **layer}


_INPUTS = Check(
    "a non-empty list of node names",
    lambda v: isinstance(v, list) and len(v) > 0 and all(NAME.ok(s) for s in v),
    list,
)


def _unknown_node(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown node {name!r}{hint}; nodes: {', '.join(names)}"


def graph_order(nodes: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of graph nodes `{name, inputs}` in topological order (ties in listed order); `x`,
    the data, is no node. Raises ValueError naming a cycle's nodes."""
    try:
        return toposort({node["name"]: node["inputs"] for node in nodes})
    except CycleError as err:
        raise ValueError(f"{err}: a graph must be acyclic") from None
