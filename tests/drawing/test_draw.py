"""Graph drawings: exact DOT and Mermaid text of the lecture's (x + y) z circuit, structure
before a forward, tensor graphs with parameter nodes, escaping, several graphs at once."""

import re

import numpy as np
import pytest

from gategraph.drawing.draw import (
    add_multiply_circuit,
    lecture_circuits,
    lecture_circuits_with_gradients,
    sigmoid_neuron_circuit,
    to_dot,
    to_mermaid,
)
from gategraph.layers.affine import Affine
from gategraph.layers.base import Layer
from gategraph.layers.elementwise import Add, Multiply
from gategraph.layers.relu import ReLU
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.graph import ComputationalGraph


def _circuit() -> ComputationalGraph:
    g = ComputationalGraph()
    x, y, z = g.input("x"), g.input("y"), g.input("z")
    g.add(Multiply(), g.add(Add(), x, y, name="q"), z, name="f")
    return g


def _ran(g: ComputationalGraph) -> ComputationalGraph:
    g.forward(x=-2.0, y=5.0, z=-4.0)
    g.backward()
    return g


def _font(color: str, text: str) -> str:
    return f'<font color="{color}">{text}</font>'


def _edge(a: int, b: int, value: str, grad: str) -> str:
    label = f"{_font('#2e7d32', value)}<br/>{_font('#c62828', grad)}"
    return f"  n{a} -> n{b} [label=<{label}>];"


HEADER = [
    "digraph gategraph {",
    '  graph [rankdir=LR, fontname="Helvetica"];',
    '  node [fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=10];',
]
CIRCUIT_NODES = [
    '  n0 [label="x", shape=plaintext];',
    '  n1 [label="y", shape=plaintext];',
    '  n2 [label="z", shape=plaintext];',
    '  n3 [label="q\\nadd", shape=box];',
    '  n4 [label="f\\nmultiply", shape=box];',
    '  n5 [label="out", shape=plaintext];',
]
LEGEND = (
    f"  label=<value ({_font('#2e7d32', 'green')}) above, "
    f"gradient ({_font('#c62828', 'red')}) below>;"
)


def test_circuit_dot_has_each_value_above_its_gradient() -> None:
    # x = -2, y = 5, z = -4: q = 3, f = -12; df/dx = df/dy = z = -4, df/dz = q = 3, df/dq = -4
    expected = [
        *HEADER,
        *CIRCUIT_NODES,
        _edge(0, 3, "-2", "-4"),
        _edge(1, 3, "5", "-4"),
        _edge(3, 4, "3", "-4"),
        _edge(2, 4, "-4", "3"),
        _edge(4, 5, "-12", "1"),
        LEGEND,
        "  labelloc=b;",
        "}",
    ]
    assert to_dot(_ran(_circuit())) == "\n".join(expected) + "\n"


CIRCUIT_MERMAID = """\
flowchart LR
  n0(["x"])
  n1(["y"])
  n2(["z"])
  n3["q<br/>add"]
  n4["f<br/>multiply"]
  n5(("out"))
"""


def test_circuit_mermaid_has_each_value_above_its_gradient() -> None:
    wires = """\
  n0 -->|"-2<br/>grad -4"| n3
  n1 -->|"5<br/>grad -4"| n3
  n3 -->|"3<br/>grad -4"| n4
  n2 -->|"-4<br/>grad 3"| n4
  n4 -->|"-12<br/>grad 1"| n5
"""
    assert to_mermaid(_ran(_circuit())) == CIRCUIT_MERMAID + wires


def test_before_forward_only_the_structure_is_drawn() -> None:
    wires = "  n0 --> n3\n  n1 --> n3\n  n3 --> n4\n  n2 --> n4\n  n4 --> n5\n"
    assert to_mermaid(_circuit()) == CIRCUIT_MERMAID + wires
    bare = [f"  n{a} -> n{b};" for a, b in ((0, 3), (1, 3), (3, 4), (2, 4), (4, 5))]
    assert to_dot(_circuit()) == "\n".join([*HEADER, *CIRCUIT_NODES, *bare, "}"]) + "\n"


def test_values_false_draws_the_structure_of_a_graph_that_ran() -> None:
    g = _ran(_circuit())
    assert to_mermaid(g, values=False) == to_mermaid(_circuit())
    assert to_dot(g, values=False) == to_dot(_circuit())


def test_after_forward_alone_wires_carry_values_without_gradients() -> None:
    g = _circuit()
    g.forward(x=-2.0, y=5.0, z=-4.0)
    text = to_mermaid(g)
    assert '  n3 -->|"3"| n4\n' in text and '  n4 -->|"-12"| n5\n' in text
    assert "grad" not in text
    assert f"  n0 -> n3 [label=<{_font('#2e7d32', '-2')}>];" in to_dot(g)


def test_the_worked_circuits_are_the_lectures() -> None:
    assert to_mermaid(add_multiply_circuit()) == to_mermaid(_ran(_circuit()))
    text = to_mermaid(sigmoid_neuron_circuit())
    # exact: f = σ(1) = 0.7311, local gradient σ(1)(1 - σ(1)) = 0.1966 reaches w2 and the sum
    wires = {
        "w0": "2<br/>grad -0.1966",
        "x0": "-1<br/>grad 0.3932",
        "w1": "-3<br/>grad -0.3932",
        "x1": "-2<br/>grad -0.5898",
        "exp": "0.3679<br/>grad -0.5344",
        "denom": "1.368<br/>grad -0.5344",
        "f": "0.7311<br/>grad 1",
    }
    ids = dict(re.findall(r'^  (n\d+)[(\[]+"(\w+)', text, re.M))
    ids = {name: node for node, name in ids.items()}
    for name, label in wires.items():
        assert re.search(rf'^  {ids[name]} -->\|"{label}"\| n\d+$', text, re.M), name
    assert list(lecture_circuits()) == ["(x + y) z", "sigmoid neuron"]


def _mlp() -> tuple[ComputationalGraph, Affine]:
    rng = np.random.default_rng(0)
    g = ComputationalGraph()
    first = Affine(2, 5, rng=rng, dtype=np.float64)
    h = g.add(first, g.input("x", grad=False))
    scores = g.add(Affine(5, 3, rng=rng, dtype=np.float64), g.add(ReLU(), h))
    g.add(SoftmaxCrossEntropy(), scores, g.input("y", grad=False), name="loss")
    return g, first


def test_parameters_are_input_nodes_with_their_shapes() -> None:
    g, _ = _mlp()
    text = to_mermaid(g)
    assert '  n1[/"affine0.W<br/>(2, 5)"/]\n  n2[/"affine0.b<br/>(5,)"/]\n' in text
    assert '  n3["affine0<br/>affine"]\n' in text
    assert "  n1 --> n3\n  n2 --> n3\n" in text
    assert '  n1 [label="affine0.W\\n(2, 5)", shape=box, style="rounded,dashed"];' in to_dot(g)


def test_tensor_wires_show_shape_and_norm_and_gradient_norm() -> None:
    g, first = _mlp()
    x, y = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.25], [2.0, 2.0]]), np.array([0, 2, 1, 2])
    g.forward(x=x, y=y)
    g.backward()
    text = to_mermaid(g, precision=6)
    h, dh = np.linalg.norm(g.value("affine0")), np.linalg.norm(g.grad("affine0"))
    assert f'|"(4, 5) norm {h:.6g}<br/>grad norm {dh:.6g}"| n4' in text
    W = first.params["W"]
    assert f'  n1 -->|"norm {np.linalg.norm(W.value):.6g}<br/>grad norm ' in text
    assert f'grad norm {np.linalg.norm(W.grad):.6g}"| n3\n' in text
    assert f'  n0 -->|"(4, 2) norm {np.linalg.norm(x):.6g}"| n3\n' in text  # x: no gradient
    assert '|"(4,) int64"| n' in text  # labels: shape and dtype only
    assert f'|"{g.value("loss"):.6g}<br/>grad 1"| n' in text


def test_a_fork_carries_the_summed_gradient_on_each_branch() -> None:
    # f = x x + x at x = 3: df/dx = x + x + 1 = 7 on each of the three wires leaving x
    g = ComputationalGraph()
    x = g.input("x")
    g.add(Add(), g.add(Multiply(), x, x, name="xx"), x, name="f")
    g.forward(x=3.0)
    g.backward()
    assert to_mermaid(g).count('n0 -->|"3<br/>grad 7"|') == 3


def test_labels_are_escaped_for_dot_and_mermaid() -> None:
    g = ComputationalGraph()
    g.add(ReLU(), g.input('a "b"\\c'), name="<h1> & #1")
    g.forward(**{'a "b"\\c': np.zeros(2)})
    dot = to_dot(g)
    assert '  n0 [label="a \\"b\\"\\\\c", shape=plaintext];' in dot
    assert '  n1 [label="<h1> & #1\\nrelu", shape=box];' in dot  # a quoted string: no HTML
    mermaid = to_mermaid(g)
    assert '  n0(["a #quot;b#quot;\\c"])' in mermaid
    assert '  n1["#lt;h1#gt; #amp; #35;1<br/>relu"]' in mermaid


class _Size(Layer):
    """out = x.size, for any array: lets a wire carry a string array (dtype <U1)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(float(np.size(x)))


def test_html_edge_labels_escape_markup() -> None:
    g = ComputationalGraph()
    g.add(_Size(), g.input("s", grad=False), name="n")
    g.forward(s=np.array(["a", "b"]))
    assert f"  n0 -> n1 [label=<{_font('#2e7d32', '(2,) &lt;U1')}>];" in to_dot(g)
    assert '  n0 -->|"(2,) #lt;U1"| n1' in to_mermaid(g)


def test_several_graphs_are_clusters_numbered_on() -> None:
    dot = to_dot({'say "hi"': _circuit(), "second": _circuit()})
    assert '  subgraph cluster_0 { label="say \\"hi\\"";' in dot
    assert '  subgraph cluster_1 { label="second";' in dot
    assert '    n6 [label="x", shape=plaintext];' in dot and "    n10 -> n11;" in dot
    mermaid = to_mermaid({"a": _circuit(), "b": _circuit()})
    assert '  subgraph s0 ["a"]\n    n0(["x"])' in mermaid
    assert '  end\n  subgraph s1 ["b"]\n    n6(["x"])' in mermaid and mermaid.endswith("  end\n")


def test_numbers_use_significant_digits_and_no_negative_zero() -> None:
    g = ComputationalGraph()
    g.add(Multiply(), g.input("a"), g.input("b"), name="m")
    g.forward(a=-0.0, b=2 / 3)
    g.backward()
    text = to_mermaid(g, precision=3)
    assert '  n0 -->|"0<br/>grad 0.667"| n2\n' in text
    assert '  n1 -->|"0.667<br/>grad 0"| n2\n' in text


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"precision": 0}, ValueError, "precision >= 1, got 0"),
        ({"precision": True}, ValueError, "precision >= 1, got True"),
        ({"direction": "up"}, ValueError, "direction must be one of LR, TB, RL, BT, got 'up'"),
    ],
)
def test_bad_options_are_refused(options: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        to_dot(_circuit(), **options)


def test_only_graphs_are_drawn() -> None:
    with pytest.raises(TypeError, match="drawing 'm': expected a ComputationalGraph, got dict"):
        to_mermaid({"m": {}})  # type: ignore[dict-item]
    g = ComputationalGraph()
    g.add(ReLU(), "nowhere", name="r")
    with pytest.raises(ValueError, match="node 'r' takes input 'nowhere', which is not a node"):
        to_dot(g)


def test_gradient_nodes_are_filled_apart_with_their_values() -> None:
    circuits, values = lecture_circuits_with_gradients()
    dot = to_dot(circuits, run_values=values)
    adjoint = 'style=filled, fillcolor="#fde0dc"'
    assert f'[label="df/dx\\nsum_like\\n= -4", shape=box, {adjoint}];' in dot
    assert f'[label="df/dz\\nsum_like\\n= 3", shape=box, {adjoint}];' in dot
    assert '[label="q\\nadd", shape=box];' in dot  # the primal gates stay plain
    assert re.search(r"n3 -> n8 \[style=dotted\];", dot)  # a wire that carries only a shape
    mermaid = to_mermaid(circuits, run_values=values)
    assert "style n5 fill:#fde0dc" in mermaid and "n4 -.-> n5" in mermaid
    local = 0.19661193324148185  # σ(1)(1 - σ(1)), the sigmoid neuron's local gradient
    assert values["sigmoid neuron"]["df/dw0"] == pytest.approx(-local, rel=1e-15)
    assert values["sigmoid neuron"]["df/dx1"] == pytest.approx(-3 * local, rel=1e-15)
