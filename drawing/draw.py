"""Graph drawings as text, DOT (Graphviz) and Mermaid, each wire labelled with its value and
gradient as in the circuit diagrams of the backprop lecture; and the lecture's circuits.

A drawing has one box per gate (its node name and type), one plain node per input, one node
per parameter (`affine0.W (2, 100)`) and one wire per data dependency, plus a wire from the
output node to `out`. After a forward, a wire carries its source's value (a number, or the
shape and L2 norm of a tensor); after a backward, the gradient of the output with respect to
that value below it (at a fork, the sum over the consumers, as the graph adds them).

Nodes that `gradients` and `tangents` added (roles "adjoint", "tangent") are filled in the
gradient's red or a blue; their wires carry values from `run_values` (a `graph.run` result
by node name), since forward does not compute them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gategraph.layers.base import Layer
from gategraph.layers.elementwise import Add, Divide, Exp, Multiply, Negate
from gategraph.models.graph import ComputationalGraph

Graphs = ComputationalGraph | Mapping[str, ComputationalGraph]  # one, or several by title
VALUE_COLOR, GRAD_COLOR = "#2e7d32", "#c62828"  # the lecture's green values, red gradients
FILLS = {"adjoint": "#fde0dc", "tangent": "#dce8fd"}  # derived nodes: light red, light blue


@dataclass(frozen=True)
class _Box:
    kind: str  # "input", "param", "gate" or "output"
    lines: tuple[str, ...]
    role: str = "primal"  # "adjoint" / "tangent" for nodes gradients / tangents added


@dataclass(frozen=True)
class _Wire:
    source: int
    target: int
    value: str | None
    grad: str | None
    shape_only: bool = False  # the target reads only the source's shape (drawn dotted)


# ---- what to draw -------------------------------------------------------------------------


class _Layout:
    """The boxes and wires of one graph: inputs, each gate's params just before it, gates,
    then `out`; wires labelled from the graph's last forward and backward when `values`."""

    def __init__(
        self,
        graph: ComputationalGraph,
        precision: int,
        values: bool,
        run_values: Mapping[str, Any] | None = None,
    ) -> None:
        self.graph, self.precision, self.values = graph, precision, values
        self.run_values = run_values or {}
        self.boxes: list[_Box] = []
        self.wires: list[_Wire] = []
        self.index: dict[str, int] = {}
        nodes = graph.nodes()
        for name, (layer, _) in nodes.items():
            if layer is None:
                self.index[name] = self._box("input", name, role=graph.role(name))
            else:
                self._gate(name, layer)
        for name, (layer, inputs) in nodes.items():
            for k, source in enumerate(inputs):
                if source not in self.index:
                    raise ValueError(f"node {name!r} takes input {source!r}, which is not a node")
                shape_only = layer is not None and k in layer.shape_inputs
                self._wire(self.index[source], self.index[name], source, shape_only)
        if (out := graph.output_name) in self.index:
            self._wire(self.index[out], self._box("output", "out"), out)

    def _box(self, kind: str, *lines: str, role: str = "primal") -> int:
        self.boxes.append(_Box(kind, lines, role))
        return len(self.boxes) - 1

    def _gate(self, name: str, layer: Layer) -> None:
        """The gate's box after one box per param, each wired in with its value and grad."""
        starts = {
            key: self._box("param", f"{name}.{key}", str(p.value.shape))
            for key, p in layer.params.items()
        }
        lines = [name, layer.key or type(layer).__name__]
        if self.values and name in self.run_values:  # a derived node: its value in its box
            lines.append(f"= {self._text(self.run_values[name])}")
        self.index[name] = self._box("gate", *lines, role=self.graph.role(name))
        ran = self.values and _read(self.graph.value, name) is not None
        backward = ran and _read(self.graph.grad, name) is not None
        for key, p in layer.params.items():
            value = self._text(p.value, shape=False) if ran else None
            grad = self._text(p.grad, shape=False) if backward else None
            self.wires.append(_Wire(starts[key], self.index[name], value, grad))

    def _wire(self, start: int, end: int, source: str, shape_only: bool = False) -> None:
        value = _read(self.graph.value, source) if self.values else None
        grad = _read(self.graph.grad, source) if self.values else None
        if self.values and value is None:
            value = self.run_values.get(source)
        if shape_only:
            value = grad = None  # the value is not what flows: only its shape
        text = self._text(value), self._text(grad, shape=False)
        self.wires.append(_Wire(start, end, *text, shape_only=shape_only))

    def _text(self, value: Any, *, shape: bool = True) -> str | None:
        """-4.0 -> "-4"; a float array -> "(64, 100) norm 12.3" (without its shape: "norm
        12.3", for a gradient or a param, whose box says it); labels -> "(64,) int64"."""
        if value is None:
            return None
        array = np.asarray(value)
        if array.ndim == 0 and array.dtype.kind in "biuf":
            return _number(float(array), self.precision)
        if array.ndim == 0 or array.dtype.kind != "f":
            return f"{array.shape} {array.dtype}"
        norm = _number(float(np.linalg.norm(array.ravel().astype(np.float64))), self.precision)
        return f"{array.shape} norm {norm}" if shape else f"norm {norm}"


def _read(get: Callable[[str], Any], name: str) -> Any:
    """graph.value(name) or graph.grad(name), None when there is none (yet)."""
    try:
        return get(name)
    except RuntimeError:
        return None


def _number(x: float, precision: int) -> str:
    text = f"{x:.{precision}g}"
    return "0" if text == "-0" else text


# ---- DOT ----------------------------------------------------------------------------------

_DOT_SHAPES = {
    "input": "shape=plaintext",
    "param": 'shape=box, style="rounded,dashed"',
    "gate": "shape=box",
    "output": "shape=plaintext",
}
_LEGEND = (
    f'value (<font color="{VALUE_COLOR}">green</font>) above, '
    f'gradient (<font color="{GRAD_COLOR}">red</font>) below'
)


def to_dot(
    graphs: Graphs,
    *,
    precision: int = 4,
    values: bool = True,
    direction: str = "LR",
    run_values: Mapping[str, Any] | None = None,
) -> str:
    """Graphviz DOT text of one graph, or of several (a mapping title -> graph) as clusters.

    Wires are labelled with their value (green, above) and gradient (red, below) when the
    graph ran forward (and backward); `values=False` draws the structure only. Numbers are
    printed with `precision` significant digits; `direction` is LR, TB, RL or BT. Render
    with `dot -Tpng file.dot -o file.png`. Draw after a backward that followed the last
    forward: the graph keeps the gradients of the last backward until the next one.
    `run_values` labels the nodes forward does not compute (a derived node's box shows its
    value): {node: value} for one graph, {title: {node: value}} for several. A dotted wire
    carries only a shape.
    """
    parts = _parts(graphs, precision, values, direction, run_values)
    lines = [
        "digraph gategraph {",
        f'  graph [rankdir={direction}, fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
        *_sections(
            parts, _dot_body, lambda i, t: f"subgraph cluster_{i} {{ label={_dot_string(t)};", "}"
        ),
    ]
    if any(w.value is not None for _, layout in parts for w in layout.wires):
        lines += [f"  label=<{_LEGEND}>;", "  labelloc=b;"]
    return "\n".join([*lines, "}"]) + "\n"


def _dot_body(layout: "_Layout", start: int) -> list[str]:
    lines = [
        f"n{start + i} [label={_dot_string(chr(10).join(box.lines))}, {_DOT_SHAPES[box.kind]}"
        + (f', style=filled, fillcolor="{FILLS[box.role]}"' if box.role in FILLS else "")
        + "];"
        for i, box in enumerate(layout.boxes)
    ]
    for w in layout.wires:
        rows = [_font(VALUE_COLOR, w.value)] if w.value is not None else []
        rows += [_font(GRAD_COLOR, w.grad)] if w.grad is not None else []
        attributes = [f"label=<{'<br/>'.join(rows)}>"] if rows else []
        attributes += ["style=dotted"] if w.shape_only else []
        label = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"n{start + w.source} -> n{start + w.target}{label};")
    return lines


def _font(color: str, text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<font color="{color}">{escaped}</font>'


def _dot_string(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# ---- Mermaid ------------------------------------------------------------------------------

_MERMAID_SHAPES = {"input": "([])", "param": "[//]", "gate": "[]", "output": "(())"}


def to_mermaid(
    graphs: Graphs,
    *,
    precision: int = 4,
    values: bool = True,
    direction: str = "LR",
    run_values: Mapping[str, Any] | None = None,
) -> str:
    """Mermaid flowchart text (GitHub renders it in a ```mermaid block) of one graph, or of
    several (a mapping title -> graph) as subgraphs. A labelled wire reads `value` then
    `grad <gradient>`; `values=False` draws the structure only; `run_values` as in to_dot."""
    parts = _parts(graphs, precision, values, direction, run_values)
    opening = lambda i, title: f'subgraph s{i} ["{_mermaid_escape(title)}"]'  # noqa: E731
    lines = [f"flowchart {direction}", *_sections(parts, _mermaid_body, opening, "end")]
    return "\n".join(lines) + "\n"


def _mermaid_body(layout: "_Layout", start: int) -> list[str]:
    lines = []
    for i, box in enumerate(layout.boxes):
        shape = _MERMAID_SHAPES[box.kind]
        left, right = shape[: len(shape) // 2], shape[len(shape) // 2 :]
        lines.append(f'n{start + i}{left}"{"<br/>".join(map(_mermaid_escape, box.lines))}"{right}')
        if box.role in FILLS:
            lines.append(f"style n{start + i} fill:{FILLS[box.role]}")
    for w in layout.wires:
        rows = [] if w.value is None else [_mermaid_escape(w.value)]
        rows += [] if w.grad is None else [f"grad {_mermaid_escape(w.grad)}"]
        label = f'|"{"<br/>".join(rows)}"|' if rows else ""
        arrow = "-.->" if w.shape_only else "-->"
        lines.append(f"n{start + w.source} {arrow}{label} n{start + w.target}")
    return lines


def _mermaid_escape(text: str) -> str:
    """Mermaid entity codes for the characters its labels would read as syntax or HTML."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}
    return "".join(codes.get(c, c) for c in text)


# ---- both ---------------------------------------------------------------------------------

_DIRECTIONS = ("LR", "TB", "RL", "BT")


def _parts(
    graphs: Graphs,
    precision: int,
    values: bool,
    direction: str,
    run_values: Mapping[str, Any] | None = None,
) -> list[tuple[str | None, "_Layout"]]:
    """[(title, layout)]: title None for a lone graph."""
    if isinstance(precision, bool) or not isinstance(precision, int) or precision < 1:
        raise ValueError(f"drawing needs an integer precision >= 1, got {precision!r}")
    if direction not in _DIRECTIONS:
        raise ValueError(
            f"drawing direction must be one of {', '.join(_DIRECTIONS)}, got {direction!r}"
        )
    title_less = isinstance(graphs, ComputationalGraph)
    named = {None: graphs} if title_less else dict(graphs)
    for title, graph in named.items():
        if not isinstance(graph, ComputationalGraph):
            raise TypeError(
                f"drawing {title!r}: expected a ComputationalGraph, got {type(graph).__name__}"
            )
    per_graph = {None: run_values} if title_less else dict(run_values or {})
    return [
        (title, _Layout(graph, precision, values, per_graph.get(title)))
        for title, graph in named.items()
    ]


def _sections(
    parts: list[tuple[str | None, "_Layout"]],
    body: Callable[["_Layout", int], list[str]],
    opening: Callable[[int, str], str],
    closing: str,
) -> list[str]:
    """Each part's lines, numbered on from the last part's ids; a titled part in a section."""
    lines, start = [], 0
    for i, (title, layout) in enumerate(parts):
        inner = body(layout, start)
        if title is None:
            lines += [f"  {line}" for line in inner]
        else:
            lines += [f"  {opening(i, title)}", *(f"    {line}" for line in inner), f"  {closing}"]
        start += len(layout.boxes)
    return lines


# ---- the lecture's circuits ---------------------------------------------------------------


def add_multiply_circuit(x: float = -2.0, y: float = 5.0, z: float = -4.0) -> ComputationalGraph:
    """f = (x + y) z, run forward and backward (the lecture's x = -2, y = 5, z = -4)."""
    g = ComputationalGraph()
    for name in ("x", "y", "z"):
        g.input(name)
    g.add(Multiply(), g.add(Add(), "x", "y", name="q"), "z", name="f")
    g.forward(x=x, y=y, z=z)
    g.backward()
    return g


def sigmoid_neuron_circuit(
    w: tuple[float, float, float] = (2.0, -3.0, -3.0), x: tuple[float, float] = (-1.0, -2.0)
) -> ComputationalGraph:
    """f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) from elementwise gates, run forward and
    backward (the lecture's w = [2, -3, -3], x = [-1, -2]); the constant 1 is an input."""
    g = ComputationalGraph()
    w0, x0, w1, x1, w2 = (g.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
    one = g.input("one", grad=False)
    s = g.add(
        Add(), g.add(Multiply(), w0, x0, name="p0"), g.add(Multiply(), w1, x1, name="p1"), name="s"
    )
    neg = g.add(Negate(), g.add(Add(), s, w2, name="dot"), name="neg")
    denom = g.add(Add(), g.add(Exp(), neg, name="exp"), one, name="denom")
    g.add(Divide(), one, denom, name="f")
    g.forward(w0=w[0], x0=x[0], w1=w[1], x1=x[1], w2=w[2], one=1.0)
    g.backward()
    return g


def lecture_circuits() -> dict[str, ComputationalGraph]:
    """The two worked circuits, by title, ready to draw."""
    return {"(x + y) z": add_multiply_circuit(), "sigmoid neuron": sigmoid_neuron_circuit()}


def with_gradients(
    graph: ComputationalGraph, wrt: list[str], feeds: Mapping[str, Any]
) -> dict[str, Any]:
    """Add the gradient nodes of `graph`'s output with respect to `wrt`, run them at `feeds`
    and return every new node's value (for `run_values`)."""
    before = set(graph.nodes())
    graph.gradients(graph.output_name, wrt)
    added = [n for n in graph.nodes() if n not in before]
    return dict(zip(added, graph.run(added, **feeds), strict=True))


def lecture_circuits_with_gradients() -> tuple[dict[str, ComputationalGraph], dict[str, dict]]:
    """The two worked circuits, each with its gradient nodes, and the values to draw on them
    ({title: {node: value}})."""
    circuits = {"(x + y) z": add_multiply_circuit(), "sigmoid neuron": sigmoid_neuron_circuit()}
    feeds = [
        {"x": -2.0, "y": 5.0, "z": -4.0},
        {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0, "one": 1.0},
    ]
    values = {}
    for (title, graph), feed in zip(circuits.items(), feeds, strict=True):
        wrt = [name for name in feed if name != "one"]
        values[title] = with_gradients(graph, wrt, feed)
        graph.forward(**feed)
        graph.backward()
    return circuits, values
