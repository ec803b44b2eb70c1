"""ComputationalGraph: gates wired into a DAG, sorted once into a plan, run forward and backward."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gategraph.core.params import Param, empty_aligned, flatten_params
from gategraph.core.toposort import CycleError, toposort
from gategraph.layers.base import Layer
from gategraph.models import autodiff


@dataclass
class _Node:
    name: str
    layer: Layer | None  # None for an input
    inputs: tuple[str, ...] = ()
    grad: bool = True  # inputs only: whether backward returns a gradient for it
    role: str = "primal"  # "adjoint" or "tangent" for nodes gradients / tangents added


@dataclass
class _Plan:
    """The graph resolved once: slots are integers, steps hold bound methods."""

    slot: dict[str, int]  # node name -> slot index
    inputs: list[tuple[str, int]]  # (input name, slot)
    input_names: frozenset[str]
    forward_steps: list[tuple[Any, tuple[int, ...], int, Layer]]
    backward_steps: list[tuple[Any, tuple[int, ...], int]]
    grad_inputs: list[tuple[str, int]]  # inputs whose gradient backward returns
    output: int
    values: list[Any] = field(default_factory=list)
    grads: list[Any] = field(default_factory=list)
    sums: dict[tuple[int, tuple[int, ...], Any], np.ndarray] = field(default_factory=dict)


class ComputationalGraph:
    """A DAG of gates. `forward(**inputs)` runs the gates in topological order and returns the
    output node's value; `backward(dout)` runs them in reverse, adds gradients that meet at a
    fork, and returns {input name: gradient}.

    The order is resolved once (an iterative Kahn sort) into a plan reused every step; nodes
    that do not lead to the output are not run. With `reuse_buffers` (the default) each gate
    writes its outputs into buffers it reuses per shape; what `forward`, `predict` and
    `backward` return is a copy, never overwritten by a later call (`value` and `grad` show
    the live node values). Scalar (0-d) values and gradients come back as floats.
    """

    def __init__(self, *, reuse_buffers: bool = True) -> None:
        self._nodes: dict[str, _Node] = {}
        self._output: str | None = None
        self._plan: _Plan | None = None
        self._flat: tuple[np.ndarray, np.ndarray, int] | None = None
        self._flat_params: list[Param] = []
        self._node_of_layer: dict[int, str] = {}  # id(layer) -> node name
        self._name_counts: dict[str, int] = {}  # next automatic index per base name
        self._run_plans: dict[tuple[str, ...], autodiff.RunPlan] = {}
        self._caching = True
        self._backward_ready = False
        self.reuse_buffers = reuse_buffers
        self.training = True

    # ---- building -------------------------------------------------------------------------

    def input(self, name: str, *, grad: bool = True) -> str:
        """Declare an input node; `grad=False` for data that needs no gradient (labels, x)."""
        self._new_name(name)
        self._nodes[name] = _Node(name, None, grad=grad)
        self._plan = None
        self._run_plans.clear()
        return name

    def set_input_grad(self, name: str, grad: bool) -> None:
        """Whether backward returns the gradient of input `name` (as `input(name, grad=...)`)."""
        node = self._nodes.get(name)
        if node is None or node.layer is not None:
            inputs = [n.name for n in self._nodes.values() if n.layer is None]
            raise ValueError(f"{name!r} is not an input of the graph; inputs: {inputs}")
        node.grad = grad
        self._plan = None

    def add(self, layer: Layer, *inputs: str, name: str | None = None, role: str = "primal") -> str:
        """Add `layer` fed by `inputs` (node names, possibly declared later); returns its name.
        A primal node becomes the output; `gradients` and `tangents` add theirs with roles
        "adjoint" and "tangent", which leave the output alone."""
        if not isinstance(layer, Layer):
            raise TypeError(f"ComputationalGraph.add expects a Layer, got {type(layer).__name__}")
        if name is None:
            name = self._fresh_name(layer.key or type(layer).__name__.lower())
        self._new_name(name)
        if (other := self._node_of_layer.get(id(layer))) is not None:
            raise ValueError(
                f"node {name!r}: this {type(layer).__name__} object is already node "
                f"{other!r}; a gate keeps one cache, so use a separate instance"
            )
        self._nodes[name] = _Node(name, layer, tuple(str(i) for i in inputs), role=role)
        self._node_of_layer[id(layer)] = name
        if role == "primal":
            self._output = name
        self._plan = None
        self._run_plans.clear()
        return name

    def output(self, node: str) -> str:
        """Make `node` the output (default: the last node added)."""
        self._output = node
        self._plan = None
        return node

    def _fresh_name(self, base: str) -> str:
        """The first unused `base0`, `base1`, ...: a counter per base keeps `add` O(1)."""
        i = self._name_counts.get(base, 0)
        while f"{base}{i}" in self._nodes:
            i += 1
        self._name_counts[base] = i + 1
        return f"{base}{i}"

    def _new_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a node name must be a non-empty string, got {name!r}")
        if name in self._nodes:
            raise ValueError(f"duplicate node name {name!r}")

    # ---- inspection -----------------------------------------------------------------------

    @property
    def output_name(self) -> str | None:
        return self._output

    def nodes(self) -> dict[str, tuple[Layer | None, tuple[str, ...]]]:
        """{name: (layer or None for an input, input names)} in insertion order."""
        return {n.name: (n.layer, n.inputs) for n in self._nodes.values()}

    def order(self) -> list[str]:
        """Names of the nodes the graph runs, in running order (inputs included)."""
        plan = self._compiled()
        return sorted(plan.slot, key=plan.slot.__getitem__)

    def role(self, name: str) -> str:
        """ "primal", or "adjoint" / "tangent" for a node `gradients` / `tangents` added."""
        if name not in self._nodes:
            raise ValueError(f"unknown node {name!r}; nodes: {', '.join(self._nodes)}")
        return self._nodes[name].role

    def layers(self) -> dict[str, Layer]:
        return {n.name: n.layer for n in self._nodes.values() if n.layer is not None}

    def params(self) -> dict[str, Param]:
        """{"affine0.W": Param, ...}: every gate's params, views into one flat buffer each; a
        param two gates share (a gradient graph's `affine0.W` node reads it) is listed once."""
        params: dict[str, Param] = {}
        seen: set[int] = set()
        for name, layer in self.layers().items():
            for key, p in layer.params.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    params[f"{name}.{key}"] = p
        self.flat_params(list(params.values()))
        return params

    def flat_params(self, params: list[Param] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """(values, grads, n_decay): the flat buffers all params are views into."""
        if params is None:
            unique = {id(p): p for layer in self.layers().values() for p in layer.params.values()}
            params = list(unique.values())
        if self._flat is None or params != self._flat_params:
            self._flat = flatten_params(params)
            self._flat_params = params
        return self._flat

    def value(self, name: str) -> Any:
        """A node's value from the last forward."""
        return _scalar(self._plan_values("value", name, lambda p: p.values))

    def grad(self, name: str) -> Any:
        """The gradient of the output with respect to a node's value, from the last backward."""
        return _scalar(self._plan_values("grad", name, lambda p: p.grads))

    def _plan_values(self, what: str, name: str, pick: Any) -> Any:
        if name not in self._nodes:
            raise ValueError(f"unknown node {name!r}; nodes: {', '.join(self._nodes)}")
        plan = self._plan
        if plan is not None and name not in plan.slot:
            raise RuntimeError(
                f"node {name!r} does not lead to the output {self._output!r}, so it is not run"
            )
        found = None if plan is None else pick(plan)[plan.slot[name]]
        if found is None:
            raise RuntimeError(f"no {what} for {name!r}: run forward (and backward) first")
        return found

    def train(self, mode: bool = True) -> "ComputationalGraph":
        self.training = mode
        for layer in self.layers().values():
            layer.train(mode)
        return self

    def eval(self) -> "ComputationalGraph":
        return self.train(False)

    @contextmanager
    def no_grad(self) -> Iterator[None]:
        """Inside, forward keeps no caches (each gate's cache is dropped as soon as it ran)."""
        caching, self._caching = self._caching, False
        try:
            yield
        finally:
            self._caching = caching

    def predict(self, **inputs: Any) -> Any:
        """Output in eval mode without caches; the modes are restored after."""
        training = self.training
        self.eval()
        try:
            with self.no_grad():
                return self.forward(**inputs)
        finally:
            self.train(training)

    # ---- derivatives as graphs ---------------------------------------------------------------

    def gradients(self, of: str, wrt: Sequence[str], *, seed: str | None = None) -> dict[str, str]:
        """Add adjoint nodes (ordinary gates, partial adjoints summed at forks) computing the
        derivative of node `of` with respect to each `wrt` (inputs, params as `params()`
        spells them, or other nodes); returns {wrt name: its gradient node}. `of` must be a
        scalar, unless `seed` names an input (declared if new) holding a cotangent of `of`'s
        shape: then the nodes compute the vector-Jacobian product. A `wrt` that `of` does
        not depend on gets a zeros node. Gradient nodes can be run, drawn, and passed to
        `gradients` again (derivatives of any order)."""
        return autodiff.gradients(self, of, wrt, seed)

    def tangents(self, inputs: Mapping[str, str]) -> dict[str, str]:
        """Forward mode: `inputs` maps an input or param name to the name of a new input
        node holding its tangent; adds a tangent node for every node depending on them and
        returns {node: its tangent node} (Jacobian-vector products)."""
        return autodiff.tangents(self, inputs)

    def run(self, nodes: str | Sequence[str], /, **feeds: Any) -> Any:
        """The values of `nodes` (a name or a list of names) as fresh copies (0-d as floats),
        computing only what they need from `feeds` (inputs they do not need may be left out).
        Each intermediate value is freed right after its last use (the plan computes the
        liveness once per set of nodes); gates keep no caches, so `backward` needs a new
        `forward` after a run."""
        names = (nodes,) if isinstance(nodes, str) else tuple(nodes)
        for name in names:
            if name not in self._nodes:
                raise ValueError(f"run: unknown node {name!r}; nodes: {', '.join(self._nodes)}")
        plan = self._run_plans.get(names)
        if plan is None:
            nodes_now = self.nodes()
            plan = self._run_plans[names] = autodiff.RunPlan.build(nodes_now, list(names))
        self._backward_ready = False
        values = autodiff.run(self, plan, feeds)
        return values[0] if isinstance(nodes, str) else values

    # ---- running --------------------------------------------------------------------------

    def forward(self, **inputs: Any) -> Any:
        plan = self._compiled()
        if inputs.keys() != plan.input_names:
            self._bad_inputs(plan, inputs)
        values = plan.values
        for name, slot in plan.inputs:  # only inputs that lead to the output
            values[slot] = np.asarray(inputs[name])
        for fwd, ins, out, _ in plan.forward_steps:
            values[out] = fwd(values[ins[0]]) if len(ins) == 1 else fwd(*[values[i] for i in ins])
        if not self._caching:
            for *_, layer in plan.forward_steps:
                layer.clear_cache()
        self._backward_ready = self._caching
        plan.grads[:] = [None] * len(plan.grads)  # gradients of an earlier pass are stale now
        return _yours(values[plan.output])

    def backward(self, dout: Any = None) -> dict[str, Any]:
        plan = self._plan
        if plan is None or not self._backward_ready:
            raise RuntimeError("ComputationalGraph.backward called before forward (with caches)")
        grads = plan.grads
        if grads[plan.output] is not None:  # a second backward of the same forward
            grads[:] = [None] * len(grads)
        grads[plan.output] = self._seed(plan, dout)
        for bwd, ins, out in plan.backward_steps:
            result = bwd(grads[out])
            if len(ins) == 1:
                self._arrive(plan, ins[0], result)
            else:
                for slot, g in zip(ins, result, strict=True):
                    self._arrive(plan, slot, g)
        return {name: _yours(grads[slot]) for name, slot in plan.grad_inputs}

    def _seed(self, plan: _Plan, dout: Any) -> Any:
        out = plan.values[plan.output]
        if isinstance(dout, np.ndarray) and isinstance(out, np.ndarray) and dout.shape == out.shape:
            return dout
        if dout is None:
            if np.ndim(out) != 0:
                raise ValueError(
                    f"output {self._output!r} has shape {np.shape(out)}: backward needs dout "
                    "of that shape (it defaults to 1.0 only for a scalar output)"
                )
            return 1.0
        if np.shape(dout) != np.shape(out):
            raise ValueError(
                f"backward: dout must have the output {self._output!r}'s shape "
                f"{np.shape(out)}, got {np.shape(dout)}"
            )
        return dout

    @staticmethod
    def _arrive(plan: _Plan, slot: int, g: Any) -> None:
        if g is None:
            return
        have = plan.grads[slot]
        if have is None:
            plan.grads[slot] = g
            return
        # a fork: add into a buffer the plan owns, never into a gate's own buffer
        key = (slot, np.shape(g), np.result_type(have, g))
        total = plan.sums.get(key)
        if total is None:
            total = plan.sums[key] = empty_aligned(key[1], key[2])
        if have is total:
            total += g
        else:
            np.add(have, g, out=total)
        plan.grads[slot] = total

    def _bad_inputs(self, plan: _Plan, inputs: dict[str, Any]) -> None:
        declared = {n.name for n in self._nodes.values() if n.layer is None}
        missing = sorted(plan.input_names - inputs.keys())
        extra = sorted(inputs.keys() - declared)
        if not missing and not extra:
            return  # declared inputs that do not lead to the output are accepted, unused
        raise ValueError(
            f"forward expects inputs {sorted(plan.input_names)}; "
            f"missing {missing}, unexpected {extra}"
        )

    # ---- the plan -------------------------------------------------------------------------

    def _compiled(self) -> _Plan:
        if self._plan is None:
            self._plan = self._compile()
        return self._plan

    def _compile(self) -> _Plan:
        if self._output is None:
            raise RuntimeError("the graph is empty: add a gate before running it")
        if self._output not in self._nodes:
            raise ValueError(
                f"output {self._output!r} is not a node; nodes: {', '.join(self._nodes)}"
            )
        order = self._sorted(self._ancestors(self._output))
        slot = {name: i for i, name in enumerate(order)}
        wants = self._wants_grad(order)
        forward_steps, backward_steps = [], []
        writers: list[Layer] = []
        for name in order:
            node = self._nodes[name]
            if node.layer is None:
                continue
            ins = tuple(slot[i] for i in node.inputs)
            node.layer.reuse_buffers = self.reuse_buffers
            node.layer.needs_input_grad = any(wants[i] for i in node.inputs)
            forward_steps.append((node.layer.forward, ins, slot[name], node.layer))
            if wants[name]:
                backward_steps.append((node.layer.backward, ins, slot[name]))
                writers.append(node.layer)
        backward_steps.reverse()
        _accumulate_shared(backward_steps, writers[::-1])
        self.flat_params()
        inputs = [(n, slot[n]) for n in order if self._nodes[n].layer is None]
        return _Plan(
            slot=slot,
            inputs=inputs,
            input_names=frozenset(n for n, _ in inputs),
            forward_steps=forward_steps,
            backward_steps=backward_steps,
            grad_inputs=[(n, s) for n, s in inputs if self._nodes[n].grad],
            output=slot[self._output],
            values=[None] * len(order),
            grads=[None] * len(order),
        )

    def _ancestors(self, output: str) -> set[str]:
        seen, stack = {output}, [output]
        while stack:
            node = self._nodes[stack.pop()]
            if node.layer is not None and len(node.inputs) != node.layer.n_inputs:
                raise ValueError(
                    f"node {node.name!r} ({type(node.layer).__name__}) takes "
                    f"{node.layer.n_inputs} input(s), got {len(node.inputs)}: {list(node.inputs)}"
                )
            for name in node.inputs:
                if name not in self._nodes:
                    raise ValueError(
                        f"node {node.name!r} takes input {name!r}, which is not a node; "
                        f"nodes: {', '.join(self._nodes)}"
                    )
                if name not in seen:
                    seen.add(name)
                    stack.append(name)
        return seen

    def _sorted(self, names: set[str]) -> list[str]:
        """`names` in topological order, ties broken by insertion order; raises on a cycle."""
        try:
            return toposort({n: self._nodes[n].inputs for n in self._nodes if n in names})
        except CycleError as err:
            raise ValueError(f"the graph has a cycle, {' -> '.join(err.cycle)}") from None

    def _wants_grad(self, order: list[str]) -> dict[str, bool]:
        """A node needs backward if it has params or a gradient-wanting input upstream."""
        wants: dict[str, bool] = {}
        for name in order:
            node = self._nodes[name]
            if node.layer is None:
                wants[name] = node.grad
            else:
                wants[name] = bool(node.layer.params) or any(wants[i] for i in node.inputs)
        return wants


def _yours(value: Any) -> Any:
    """What a caller keeps: a copy of an array (the gates reuse theirs), a float for a 0-d."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return value.copy()
    return _scalar(value)


def _accumulate_shared(steps: list[tuple[Any, tuple[int, ...], int]], layers: list[Layer]) -> None:
    """A param that several gates of the plan use (a gradient graph's ReadParam node and its
    owner, or tied weights) gets the sum of their gradients: every writer after the first
    (in backward order) adds the gradient already there back to the one it writes."""
    seen: set[int] = set()
    for k, layer in enumerate(layers):
        shared = [p for p in layer.params.values() if id(p) in seen]
        seen |= {id(p) for p in layer.params.values()}
        if shared:
            bwd, ins, out = steps[k]
            steps[k] = (_adding(bwd, shared), ins, out)


def _adding(backward: Any, shared: list[Param]) -> Any:
    def step(dout: Any) -> Any:
        before = [p.grad.copy() for p in shared]
        result = backward(dout)
        for p, grad in zip(shared, before, strict=True):
            p.grad += grad
        return result

    return step


def _scalar(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return float(value)
    return value
