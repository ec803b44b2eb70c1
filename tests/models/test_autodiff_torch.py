"""Gradient graphs against PyTorch in float64 (skipped without torch): a Hessian-vector
product of an MLP's softmax cross-entropy over all params, a gradient penalty ||df/dx||²
differentiated with respect to the weights (create_graph=True), a JVP of the scores."""

import numpy as np
import pytest

from gategraph.layers.affine import Affine
from gategraph.layers.elementwise import Multiply
from gategraph.layers.shape import Sum
from gategraph.layers.tanh import Tanh
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.autodiff import hvp
from gategraph.models.graph import ComputationalGraph

torch = pytest.importorskip("torch")
TOL = 1e-10


def mlp(sizes: tuple[int, ...] = (4, 6, 5, 3)) -> ComputationalGraph:
    rng = np.random.default_rng(0)
    g = ComputationalGraph()
    h = g.input("x")
    g.input("y", grad=False)
    for k, (d, m) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        h = g.add(Affine(d, m, rng=rng, dtype=np.float64), h, name=f"fc{k}")
        if k < len(sizes) - 2:
            h = g.add(Tanh(), h, name=f"tanh{k}")
    g.add(SoftmaxCrossEntropy(), h, "y", name="loss")
    return g


def torch_scores(g: ComputationalGraph, params: dict, x: "torch.Tensor") -> "torch.Tensor":
    h = x
    n = sum(1 for name in params if name.endswith(".W"))
    for k in range(n):
        h = h @ params[f"fc{k}.W"] + params[f"fc{k}.b"]
        if k < n - 1:
            h = torch.tanh(h)
    return h


def torch_params(g: ComputationalGraph) -> dict:
    return {k: torch.tensor(p.value, requires_grad=True) for k, p in g.params().items()}


def data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((7, 4)), rng.integers(0, 3, 7)


def close(ours: np.ndarray, theirs: "torch.Tensor") -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=TOL, atol=TOL * 1e-2)


def test_hvp_of_softmax_cross_entropy_over_all_params() -> None:
    g, rng = mlp(), np.random.default_rng(1)
    x, y = data(rng)
    wrt = list(g.params())
    vectors = {w: rng.standard_normal(p.value.shape) for w, p in g.params().items()}
    ours = hvp(g, "loss", wrt, vectors, x=x, y=y)
    params = torch_params(g)
    scores = torch_scores(g, params, torch.tensor(x))
    loss = torch.nn.functional.cross_entropy(scores, torch.tensor(y))
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    dot = sum((gr * torch.tensor(vectors[w])).sum() for gr, w in zip(grads, wrt, strict=True))
    theirs = torch.autograd.grad(dot, list(params.values()))
    for w, t in zip(wrt, theirs, strict=True):
        close(ours[w], t)


def test_a_gradient_penalty_differentiated_with_respect_to_the_weights() -> None:
    g, rng = mlp(), np.random.default_rng(2)
    x, y = data(rng)
    dx = g.gradients("loss", ["x"])["x"]
    g.add(Sum(), g.add(Multiply(), dx, dx), name="penalty")
    wrt = list(g.params())
    dpenalty = g.gradients("penalty", wrt)
    ours = g.run([dpenalty[w] for w in wrt], x=x, y=y)
    params = torch_params(g)
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(torch_scores(g, params, xt), torch.tensor(y))
    (gx,) = torch.autograd.grad(loss, xt, create_graph=True)
    theirs = torch.autograd.grad((gx**2).sum(), list(params.values()))
    for value, t in zip(ours, theirs, strict=True):
        close(value, t)


def test_a_jvp_of_the_scores_matches_torch_func_jvp() -> None:
    g, rng = mlp(), np.random.default_rng(3)
    x, _ = data(rng)
    wrt = ["x", *g.params()]
    vectors = {"x": rng.standard_normal(x.shape)}
    vectors |= {w: rng.standard_normal(p.value.shape) for w, p in g.params().items()}
    tangent = g.tangents({w: f"t[{w}]" for w in wrt})
    scores = "fc2"
    ours = g.run(tangent[scores], x=x, **{f"t[{w}]": v for w, v in vectors.items()})
    params = torch_params(g)
    names = list(params)

    def f(xt: "torch.Tensor", *ps: "torch.Tensor") -> "torch.Tensor":
        return torch_scores(g, dict(zip(names, ps, strict=True)), xt)

    primals = (torch.tensor(x), *(p.detach() for p in params.values()))
    tangents = tuple(torch.tensor(vectors[w]) for w in wrt)
    _, theirs = torch.func.jvp(f, primals, tangents)
    close(ours, theirs)
