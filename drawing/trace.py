"""The lecture's evaluation traces of y = ln(x1) + x1·x2 - sin(x2), computed by a graph: the
forward values v0..v6, the forward derivatives v̇0..v̇6 (tangent nodes, ẋ1 = 1, ẋ2 = 0) and the
reverse adjoints v̄0..v̄6 (adjoint nodes), as Markdown tables."""

from typing import Any

from gategraph.layers.elementwise import Add, Cos, Divide, Log, Multiply, Negate, Sin, Subtract
from gategraph.layers.shape import Seed, SumLike
from gategraph.models.graph import ComputationalGraph

# the lecture's names of the nodes: v0 = x1, v1 = x2, ..., v6 = y
NAMES = {"x1": "v0", "x2": "v1", "v2": "v2", "v3": "v3", "v4": "v4", "v5": "v5", "y": "v6"}


def lecture_graph() -> ComputationalGraph:
    """y = ln(x1) + x1·x2 - sin(x2), its nodes named as in the issue (v2..v5, y)."""
    g = ComputationalGraph()
    x1, x2 = g.input("x1"), g.input("x2")
    v2 = g.add(Log(), x1, name="v2")
    v3 = g.add(Multiply(), x1, x2, name="v3")
    v4 = g.add(Sin(), x2, name="v4")
    v5 = g.add(Add(), v2, v3, name="v5")
    g.add(Subtract(), v5, v4, name="y")
    return g


def traces(x1: float = 2.0, x2: float = 5.0) -> dict[str, dict[str, tuple[str, float]]]:
    """{"forward" / "tangent" / "adjoint": {node: (its formula read off the graph, value)}}:
    each value from running the graph's primal, tangent (ẋ1 = 1, ẋ2 = 0) or adjoint node."""
    g = lecture_graph()
    nodes = list(NAMES)
    made = {
        "forward": {n: n for n in nodes},
        "tangent": g.tangents({"x1": "dx1", "x2": "dx2"}),
        "adjoint": g.gradients("y", nodes),
    }
    labels = {n: NAMES[n] for n in nodes}
    for kind, mark in (("tangent", "\u0307"), ("adjoint", "\u0304")):
        labels |= {made[kind][n]: f"v{mark}{NAMES[n][1:]}" for n in nodes}
    feeds = {"x1": x1, "x2": x2, "dx1": 1.0, "dx2": 0.0}
    out = {}
    for kind, of in made.items():
        names = [of[n] for n in nodes]
        values = g.run(names, **feeds)
        out[kind] = {
            n: (_formula(g, name, labels), value)
            for n, name, value in zip(nodes, names, values, strict=True)
        }
    return out


FORMULAS = {
    Log: "ln({})",
    Sin: "sin({})",
    Cos: "cos({})",
    Multiply: "{} × {}",
    Divide: "{} / {}",
    Add: "{} + {}",
    Subtract: "{} − {}",
    Negate: "−{}",
    SumLike: "{}",  # a sum to a shape the value already has: the value
    Seed: "1",
}


def _formula(g: ComputationalGraph, name: str, labels: dict[str, str], top: bool = True) -> str:
    """The node's gate applied to its inputs, each written by its label (v0, v̇3, v̄5) or,
    for an unnamed helper node, by its own formula: the rule the graph computes."""
    layer, inputs = g.nodes()[name]
    if layer is None and top:
        return f"input {name}"
    if layer is None or not top and name in labels:
        return labels.get(name, name)
    parts = [_formula(g, i, labels, False) for i in inputs]
    parts = [f"({p})" if " + " in p or " − " in p else p for p in parts]
    return FORMULAS[type(layer)].format(*parts)


def trace_tables(x1: float = 2.0, x2: float = 5.0, precision: int = 4) -> str:
    """The three traces as Markdown tables, values to `precision` significant digits."""
    traced = traces(x1, x2)
    titles = {
        "forward": f"Forward evaluation trace (x1 = {x1:g}, x2 = {x2:g})",
        "tangent": "Forward derivative trace (ẋ1 = 1, ẋ2 = 0): v̇ = dv / dx1",
        "adjoint": "Reverse adjoint trace (v̄6 = ȳ = 1): v̄ = dy / dv",
    }
    marks = {"forward": "", "tangent": "\u0307", "adjoint": "\u0304"}
    parts: list[str] = []
    for kind, title in titles.items():
        parts += [f"{title}\n", "| node | computed as | value |", "| --- | --- | ---: |"]
        order = list(NAMES) if kind != "adjoint" else list(NAMES)[::-1]
        for name in order:
            formula, value = traced[kind][name]
            label = f"v{marks[kind]}{NAMES[name][1:]}"
            parts.append(f"| {label} | {formula} | {_number(value, precision)} |")
        parts.append("")
    return "\n".join(parts)


def _number(value: Any, precision: int) -> str:
    text = f"{float(value):.{precision}g}"
    return "0" if text == "-0" else text
