"""Every registered gate and loss states its derivative twice, as numbers (backward) and as
nodes (vjp, jvp): on its example in float64 the adjoint graph's vector-Jacobian product equals
the NumPy backward, and the tangent graph agrees with the adjoint graph (<u, J v> both ways).
A gate without a gradient graph must say so, naming itself and the node."""

import copy

import numpy as np
import pytest

from gategraph.layers import LAYERS
from gategraph.losses import LOSSES
from gategraph.models.graph import ComputationalGraph

CASES = [("layer", n) for n in LAYERS.names()] + [("loss", n) for n in LOSSES.names()]
RTOL = 1e-12


def _example(kind: str, name: str) -> tuple:
    rng = np.random.default_rng(0)
    layer, x = (LAYERS if kind == "layer" else LOSSES).get(name).example(rng)
    inputs = x if isinstance(x, tuple) else (x,)
    return layer, tuple(np.asarray(i) for i in inputs), rng


def _graph(layer: object, inputs: tuple) -> tuple[ComputationalGraph, list[str], str]:
    g = ComputationalGraph()
    names = [g.input(f"in{k}") for k in range(len(inputs))]
    node = g.add(copy.deepcopy(layer), *names, name="gate")
    return g, names, node


def _differentiable(g: ComputationalGraph, names: list[str], inputs: tuple) -> list[str]:
    """Float inputs (those read only for their shape get zero gradients), then params."""
    floats = [n for n, x in zip(names, inputs, strict=True) if x.dtype.kind == "f"]
    return floats + list(g.params())


def _close(a: object, b: object) -> None:
    """Equal to RTOL relative to b's largest entry; b None (no gradient) means zeros."""
    a = np.asarray(a, np.float64)
    b = np.zeros_like(a) if b is None else np.asarray(b, np.float64)
    scale = max(np.max(np.abs(b), initial=0.0), 1e-300)
    assert np.max(np.abs(a - b), initial=0.0) <= RTOL * scale, (a, b)


def _backward(ref: object, inputs: tuple, dout: object) -> list:
    """The NumPy backward's gradient per input (None where none) and per param."""
    ref.needs_input_grad = True
    out = ref.forward(*inputs)
    grads = ref.backward(dout if isinstance(out, np.ndarray) else float(dout))
    grads = list(grads) if isinstance(grads, tuple | list) else [grads]
    grads += [None] * (len(inputs) - len(grads))
    return grads + [p.grad.copy() for p in ref.params.values()]


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_adjoint_graph_equals_backward_and_tangent_graph_agrees(kind: str, name: str) -> None:
    layer, inputs, rng = _example(kind, name)
    reference = copy.deepcopy(layer)  # now: a Dropout shares `rng`, which draws on below
    g, names, node = _graph(layer, inputs)
    feeds = dict(zip(names, inputs, strict=True))
    out = g.run(node, **feeds)
    u = rng.standard_normal(np.shape(out))
    wrt = _differentiable(g, names, inputs)
    try:
        adj = g.gradients(node, wrt, seed="u")
    except NotImplementedError as err:
        assert type(layer).__name__ in str(err) and "'gate'" in str(err), err
        pytest.skip(f"no gradient graph yet: {err}")  # named as the issue asks
    vjp = dict(zip(wrt, g.run([adj[w] for w in wrt], **feeds, u=u), strict=True))
    expected = _backward(reference, inputs, u)
    labels = names + [f"gate.{k}" for k in layer.params]
    for label, grad in zip(labels, expected, strict=True):
        if label in vjp:
            _close(vjp[label], grad)

    vectors = {w: rng.standard_normal(np.shape(v)) for w, v in vjp.items()}
    tangent = g.tangents({w: f"t[{w}]" for w in wrt})
    tangent_feeds = {f"t[{w}]": v for w, v in vectors.items()}
    jv = g.run(tangent[node], **feeds, **tangent_feeds) if node in tangent else 0.0  # J = 0
    left = float(np.sum(u * np.asarray(jv)))
    right = sum(float(np.sum(vjp[w] * vectors[w])) for w in wrt)
    assert left == pytest.approx(right, rel=RTOL, abs=1e-300)
