"""What `run` keeps alive, measured with tracemalloc on 1,000-gate chains of arrays of 10,000
float64 (80 kB each): forward mode along a sin chain and the gradient of a chain of linear
gates hold a few arrays at a time; the gradient of a sin chain holds every forward value
until its adjoint has used it (reverse mode's price), pinned both ways."""

import tracemalloc
from collections.abc import Callable

import numpy as np

from gategraph.layers.elementwise import Add, Scale, Sin
from gategraph.layers.shape import Sum
from gategraph.models.graph import ComputationalGraph

N_GATES, SIZE = 1000, 10_000
ARRAY = SIZE * 8  # bytes


def peak_arrays(run: Callable[[], object]) -> float:
    """The peak of memory allocated during `run`, in arrays of SIZE float64."""
    run()  # a first run builds the plan
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / ARRAY


def sin_chain() -> tuple[ComputationalGraph, str]:
    g = ComputationalGraph()
    v = g.input("x")
    for _ in range(N_GATES):
        v = g.add(Sin(), v)
    return g, v


def test_forward_mode_along_a_sin_chain_holds_a_few_arrays() -> None:
    g, last = sin_chain()
    tangent = g.tangents({"x": "dx"})[last]
    x, dx = np.linspace(-1, 1, SIZE), np.ones(SIZE)
    assert peak_arrays(lambda: g.run(tangent, x=x, dx=dx)) < 12  # measured 8.8


def test_the_gradient_of_a_linear_chain_holds_a_few_arrays() -> None:
    g = ComputationalGraph()
    v = g.input("x")
    for k in range(N_GATES):
        v = g.add(Scale(0.999), v) if k % 2 else g.add(Add(), v, "x")
    dx = g.gradients(g.add(Sum(), v), ["x"])["x"]
    x = np.linspace(-1, 1, SIZE)
    assert peak_arrays(lambda: g.run(dx, x=x)) < 12  # measured 6.8


def test_the_gradient_of_a_sin_chain_holds_every_forward_value_until_used() -> None:
    g, last = sin_chain()
    dx = g.gradients(g.add(Sum(), last), ["x"])["x"]
    x = np.linspace(-1, 1, SIZE)
    peak = peak_arrays(lambda: g.run(dx, x=x))
    assert N_GATES - 1 <= peak < N_GATES + 12  # measured 1003: v1..v1000 alive, and a few
