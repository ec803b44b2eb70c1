"""Derivatives as graphs: reverse mode adds adjoint nodes, forward mode tangent nodes, both
built of ordinary gates by each gate's `vjp` / `jvp`; and run plans that evaluate chosen
nodes, freeing every value right after its last use.

The graph is passed in (anything with `nodes()`, `input()`, `add()` and `params()`), so this
module never imports the graph's: `ComputationalGraph.gradients`, `.tangents` and `.run`
call it. `hvp` and `hessian` sit on top.
"""

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gategraph.core.params import Param
from gategraph.core.toposort import CycleError, toposort
from gategraph.layers.base import Layer
from gategraph.layers.elementwise import Add, Multiply
from gategraph.layers.read_param import ReadParam
from gategraph.layers.shape import Seed, Sum, ZerosLike

Nodes = Mapping[str, tuple[Layer | None, tuple[str, ...]]]


# ---- building ------------------------------------------------------------------------------


class _Builder:
    """What gates' `vjp` / `jvp` add to: `add` names a node at once; `commit` adds to the
    graph only the nodes the results need, with the readable names `rename` gave them."""

    def __init__(self, graph: Any, role: str) -> None:
        self.graph, self.role = graph, role
        self.taken = set(graph.nodes())
        self.pending: dict[str, tuple[Layer, tuple[str, ...]]] = {}
        self.final: dict[str, str] = {}  # pending name -> readable name
        self.counts: dict[str, int] = {}

    def add(self, layer: Layer, *inputs: str, name: str | None = None) -> str:
        if not isinstance(layer, Layer):
            raise TypeError(f"a gradient graph adds Layers, got {type(layer).__name__}")
        name = self._free(name or layer.key or type(layer).__name__.lower(), name is None)
        self.pending[name] = (layer, tuple(inputs))
        return name

    def rename(self, node: str, wanted: str) -> str:
        """`node`, if this builder made it and it has no readable name yet, is called
        `wanted` (or `wanted#2`, ... if taken); returns the name it ends up with."""
        if node not in self.pending or node in self.final:
            return self.final.get(node, node)
        self.final[node] = self._free(wanted, False)
        return self.final[node]

    def _free(self, base: str, numbered: bool) -> str:
        i = self.counts.get(base, 0 if numbered else 1)
        name = f"{base}{i}" if numbered else base
        while name in self.taken:
            i += 1
            name = f"{base}{i}" if numbered else f"{base}#{i}"
        self.counts[base] = i + 1 if numbered else i
        self.taken.add(name)
        return name

    def commit(self, results: list[str]) -> None:
        """Add the pending nodes that `results` (readable or pending names) need, in order."""
        pending_of = {final: old for old, final in self.final.items()}
        needed, stack = set(), [pending_of.get(r, r) for r in results]
        while stack:
            name = stack.pop()
            if name in self.pending and name not in needed:
                needed.add(name)
                stack += [pending_of.get(i, i) for i in self.pending[name][1]]
        for old, (layer, inputs) in self.pending.items():
            if old in needed:
                ins = [self.final.get(i, i) for i in inputs]
                self.graph.add(layer, *ins, name=self.final.get(old, old), role=self.role)


class _Params:
    """The node reading each param (`affine0.W`): an existing ReadParam node, or a new one."""

    def __init__(self, nodes: Nodes, builder: _Builder) -> None:
        self.builder = builder
        self.node_of: dict[int, str] = {}
        for name, (layer, _) in nodes.items():
            if isinstance(layer, ReadParam):
                self.node_of.setdefault(id(layer.params["value"]), name)

    def node(self, owner: str, key: str, param: Param) -> str:
        name = self.node_of.get(id(param))
        if name is None:
            name = self.node_of[id(param)] = self.builder.add(
                ReadParam(param), name=f"{owner}.{key}"
            )
        return name


@dataclass
class _View:
    """The graph as differentiation sees it: a gate with params also takes them as inputs."""

    nodes: Nodes
    inputs: dict[str, tuple[str, ...]]  # effective inputs, params (as nodes) last
    order: list[str]

    @classmethod
    def of(cls, graph: Any, builder: _Builder) -> tuple["_View", _Params]:
        nodes = graph.nodes()
        params = _Params(nodes, builder)
        inputs: dict[str, tuple[str, ...]] = {}
        for name, (layer, ins) in nodes.items():
            own = () if layer is None or isinstance(layer, ReadParam) else layer.params.items()
            inputs[name] = (*ins, *(params.node(name, k, p) for k, p in own))
        for name in list(params.node_of.values()):
            inputs.setdefault(name, ())
        try:
            order = toposort(inputs)
        except CycleError as err:
            raise ValueError(f"the graph has a cycle, {' -> '.join(err.cycle)}") from None
        return cls(nodes, inputs, order), params

    def layer(self, name: str) -> Layer | None:
        if name in self.nodes:
            return self.nodes[name][0]
        return None  # a new param node: a leaf

    def edges(self, name: str) -> list[str]:
        """The inputs whose values (not only shapes) `name` depends on."""
        layer, ins = self.layer(name), self.inputs[name]
        skip = () if layer is None else layer.shape_inputs
        return [i for k, i in enumerate(ins) if k not in skip]


def _label(name: str) -> str:
    return f"({name})" if any(c in name for c in "/' ") else name


def _resolve(graph: Any, view: _View, params: _Params, name: str, who: str) -> str:
    """The node of an input, node or parameter name; a one-line error otherwise."""
    if name in view.inputs:
        return name
    for pname, p in graph.params().items():
        if pname == name:
            owner, key = pname.rsplit(".", 1)
            node = params.node(owner, key, p)
            view.inputs.setdefault(node, ())
            return node
    inputs = [n for n, (layer, _) in view.nodes.items() if layer is None]
    raise ValueError(
        f"{who}: unknown {name!r}; name an input ({', '.join(inputs)}), a parameter "
        f"({', '.join(graph.params()) or 'none'}) or another node of the graph"
    )


def _normalized(result: Any, n: int, layer: Layer, node: str) -> tuple[str | None, ...]:
    result = result if isinstance(result, tuple) else (result,)
    if len(result) == 1 and n != 1 and result[0] is None:
        result = (None,) * n
    if len(result) != n:
        raise ValueError(
            f"{type(layer).__name__}.vjp at node {node!r} returned {len(result)} adjoints "
            f"for {n} inputs and params"
        )
    return result


# ---- reverse mode --------------------------------------------------------------------------


def gradients(graph: Any, of: str, wrt: Sequence[str], seed: str | None = None) -> dict[str, str]:
    """Add the adjoint nodes of `of` to `graph`; {wrt name: node computing d of / d wrt}."""
    if isinstance(wrt, str):
        wrt = [wrt]
    builder = _Builder(graph, "adjoint")
    view, params = _View.of(graph, builder)
    if of not in view.nodes:
        raise ValueError(f"gradients: unknown node {of!r}; nodes: {', '.join(view.nodes)}")
    targets = {w: _resolve(graph, view, params, w, "gradients: wrt") for w in wrt}
    active = _between(view, set(targets.values()), of)
    adjoints = {of: [_seed(graph, builder, of, seed)]}
    finals: dict[str, str] = {}
    for node in reversed(view.order):
        if node not in active or node not in adjoints:
            continue
        finals[node] = dout = _total(builder, adjoints[node], f"d{_label(of)}/d{_label(node)}")
        layer = view.layer(node)
        if layer is None or isinstance(layer, ReadParam):
            continue
        ins = view.inputs[node]
        try:
            result = _normalized(layer.vjp(builder, ins, node, dout), len(ins), layer, node)
        except NotImplementedError as err:
            raise NotImplementedError(_missing(err, node, "gradients", "vjp")) from None
        for source, adjoint in zip(ins, result, strict=True):
            if adjoint is not None and source in active:
                adjoints.setdefault(source, []).append(adjoint)
    out = {}
    for w, node in targets.items():
        name = f"d{_label(of)}/d{_label(node)}"
        out[w] = finals.get(node) or builder.rename(builder.add(ZerosLike(), node), name)
    builder.commit(list(out.values()))
    return out


def _between(view: _View, sources: set[str], of: str) -> set[str]:
    """Nodes on a path from `sources` to `of` along value (not shape) dependencies."""
    upstream, stack = {of}, [of]
    while stack:
        for i in view.edges(stack.pop()):
            if i not in upstream:
                upstream.add(i)
                stack.append(i)
    reach = set(sources)
    for name in view.order:
        if name not in reach and any(i in reach for i in view.edges(name)):
            reach.add(name)
    return upstream & reach


def _seed(graph: Any, builder: _Builder, of: str, seed: str | None) -> str:
    if seed is None:
        return builder.add(Seed(of), of)
    nodes = graph.nodes()
    if seed not in nodes:
        graph.input(seed)
    elif nodes[seed][0] is not None:
        raise ValueError(f"gradients: seed {seed!r} must name an input node, not a gate's node")
    return seed


def _total(builder: _Builder, terms: list[str], name: str) -> str:
    """The sum of the partial adjoints (a fork), named `name` if it is a new node."""
    total = terms[0]
    for term in terms[1:]:
        total = builder.add(Add(), total, term)
    return builder.rename(total, name)


def _missing(err: Exception, node: str, who: str, rule: str) -> str:
    return (
        f"{who}: node {node!r}: {err}; write its {rule} (as nodes) or use forward/backward "
        "(numbers) for this graph"
    )


# ---- forward mode --------------------------------------------------------------------------


def tangents(graph: Any, inputs: Mapping[str, str]) -> dict[str, str]:
    """Declare the tangent inputs and add the tangent nodes of every node depending on them;
    {node: its tangent node} (the given inputs and params map to their tangent inputs)."""
    builder = _Builder(graph, "tangent")
    view, params = _View.of(graph, builder)
    tangent: dict[str, str] = {}
    for name, t in inputs.items():
        node = _resolve(graph, view, params, name, "tangents")
        if t not in graph.nodes():
            graph.input(t)
        elif graph.nodes()[t][0] is not None:
            raise ValueError(f"tangents: {t!r} must name a new or an input node, not a gate's")
        tangent[node] = t
    for node in view.order:
        layer = view.layer(node)
        if node in tangent or layer is None or isinstance(layer, ReadParam):
            continue
        ins, skip = view.inputs[node], layer.shape_inputs
        ts = tuple(None if k in skip else tangent.get(i) for k, i in enumerate(ins))
        if all(t is None for t in ts):
            continue
        try:
            t = layer.jvp(builder, ins, node, ts)
        except NotImplementedError as err:
            raise NotImplementedError(_missing(err, node, "tangents", "jvp")) from None
        if t is not None:
            tangent[node] = builder.rename(t, f"{node}'")
    builder.commit(list(tangent.values()))
    return tangent


# ---- running -------------------------------------------------------------------------------


@dataclass
class RunPlan:
    """Chosen nodes resolved once: depth-first order (each value computed close to its use),
    and after each step the slots whose last use it was, so they are freed at once."""

    feeds: list[tuple[str, int]]  # (input name, slot)
    steps: list[tuple[Layer, tuple[int, ...], tuple[bool, ...], int, tuple[int, ...]]]
    wanted: list[int]
    needs: dict[str, str]  # input name -> a requested node that needs it

    @classmethod
    def build(cls, nodes: Nodes, wanted: list[str]) -> "RunPlan":
        order = _depth_first(nodes, wanted)
        slot = {name: i for i, name in enumerate(order)}
        last: dict[int, int] = {}  # slot -> the last step reading its value
        made: dict[int, int] = {}  # slot -> the step computing it
        raw = []
        for name in order:
            layer, ins = nodes[name]
            if layer is None:
                continue
            shape_only = tuple(k in layer.shape_inputs for k in range(len(ins)))
            raw.append((layer, tuple(slot[i] for i in ins), shape_only, slot[name]))
            made[slot[name]] = len(raw) - 1
            for s, only in zip(raw[-1][1], shape_only, strict=True):
                if not only:
                    last[s] = len(raw) - 1
        keep = {slot[w] for w in wanted}
        free: list[list[int]] = [[] for _ in raw]
        for s in range(len(order)):
            k = last.get(s, made.get(s))
            if k is not None and s not in keep:
                free[k].append(s)  # after its last use, or right after it is made if unused
        steps = [(*step, tuple(f)) for step, f in zip(raw, free, strict=True)]
        feeds = [(n, slot[n]) for n in order if nodes[n][0] is None]
        return cls(feeds, steps, [slot[w] for w in wanted], _needs(nodes, wanted))

    def execute(self, feeds: Mapping[str, Any]) -> list[Any]:
        n = max([s for _, s in self.feeds] + [step[3] for step in self.steps], default=-1) + 1
        values: list[Any] = [None] * n
        meta: list[Any] = [None] * n  # (shape, dtype) of every value, for shape-only inputs
        for name, s in self.feeds:
            values[s] = np.asarray(feeds[name])
            meta[s] = (values[s].shape, values[s].dtype)
        for layer, ins, shape_only, out, free in self.steps:
            pairs = zip(ins, shape_only, strict=True)
            value = layer.forward(*[_stand_in(meta[i]) if only else values[i] for i, only in pairs])
            layer.clear_cache()
            values[out], meta[out] = value, (np.shape(value), np.result_type(value))
            for s in free:
                values[s] = None
        return [_fresh(values[s]) for s in self.wanted]


def _stand_in(meta: tuple[tuple[int, ...], np.dtype]) -> np.ndarray:
    """A value of this shape and dtype that takes no memory (for inputs read for their shape)."""
    return np.broadcast_to(np.zeros((), meta[1]), meta[0])


def _fresh(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0 or np.isscalar(value):
        return float(value)
    return np.array(value, copy=True)


def _depth_first(nodes: Nodes, wanted: list[str]) -> list[str]:
    """Post-order from the wanted nodes: a node right after the inputs it needs."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 on the path, 2 placed
    for root in wanted:
        stack = [(root, 0)]
        while stack:
            name, k = stack.pop()
            if k == 0:
                if state.get(name) == 2:
                    continue
                state[name] = 1
            ins = _inputs(nodes, name)
            if k < len(ins):
                stack.append((name, k + 1))
                nxt = ins[k]
                if state.get(nxt) == 1:
                    cycle = [n for n, _ in stack] + [nxt]
                    raise ValueError(
                        f"the graph has a cycle, {' -> '.join(cycle[cycle.index(nxt) :])}"
                    )
                if state.get(nxt) != 2:
                    stack.append((nxt, 0))
            else:
                state[name] = 2
                order.append(name)
    return order


def _inputs(nodes: Nodes, name: str) -> tuple[str, ...]:
    layer, ins = nodes[name]
    if layer is not None and len(ins) != layer.n_inputs:
        raise ValueError(
            f"node {name!r} ({type(layer).__name__}) takes {layer.n_inputs} input(s), "
            f"got {len(ins)}: {list(ins)}"
        )
    for i in ins:
        if i not in nodes:
            raise ValueError(f"node {name!r} takes input {i!r}, which is not a node")
    return ins


def _needs(nodes: Nodes, wanted: list[str]) -> dict[str, str]:
    """{input: the first wanted node that needs it}, for the missing-feed message."""
    needs: dict[str, str] = {}
    for w in wanted:
        for name in _depth_first(nodes, [w]):
            if nodes[name][0] is None:
                needs.setdefault(name, w)
    return needs


def run(graph: Any, plan: RunPlan, feeds: Mapping[str, Any]) -> list[Any]:
    """Execute `plan` with `feeds` (inputs the nodes do not need may be left out): each
    gate allocates fresh outputs and keeps no cache during the run."""
    if missing := [n for n, _ in plan.feeds if n not in feeds]:
        first = missing[0]
        raise ValueError(
            f"run: node {plan.needs[first]!r} needs input {first!r}: pass {first}=<value>"
            + (f" (and {', '.join(missing[1:])})" if missing[1:] else "")
        )
    inputs = {n for n, (layer, _) in graph.nodes().items() if layer is None}
    if unknown := sorted(set(feeds) - inputs):
        raise ValueError(f"run: {unknown} are not inputs of the graph; inputs: {sorted(inputs)}")
    layers = [step[0] for step in plan.steps]
    reuse = [layer.reuse_buffers for layer in layers]
    for layer in layers:
        layer.reuse_buffers = False  # fresh arrays: freed as soon as the plan drops them
    try:
        return plan.execute(feeds)
    finally:
        for layer, flag in zip(layers, reuse, strict=True):
            layer.reuse_buffers = flag


# ---- on top: Hessian-vector products and small Hessians -----------------------------------

HVP_MODE = "forward-over-reverse"  # measured faster than reverse-over-reverse (README)
_HVP_GRAPHS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def hvp_nodes(graph: Any, of: str, wrt: Sequence[str], mode: str = HVP_MODE) -> tuple[dict, dict]:
    """({wrt: node of (H v)_wrt}, {wrt: input node holding v_wrt}), built once per graph,
    `of`, `wrt` and mode ("forward-over-reverse" or "reverse-over-reverse")."""
    cache = _HVP_GRAPHS.setdefault(graph, {})
    key = (of, tuple(wrt), mode)
    if key not in cache:
        grads = graph.gradients(of, list(wrt))
        vectors = {w: f"v[{w}]" for w in wrt}
        if mode == "forward-over-reverse":
            tangent = graph.tangents(vectors)
            builder = _Builder(graph, "tangent")
            outs = {w: tangent.get(grads[w]) or builder.add(ZerosLike(), grads[w]) for w in wrt}
            builder.commit(list(outs.values()))
            cache[key] = outs, vectors
        elif mode == "reverse-over-reverse":
            for v in vectors.values():
                if v not in graph.nodes():
                    graph.input(v)
            builder = _Builder(graph, "adjoint")
            terms = [builder.add(Sum(), builder.add(Multiply(), grads[w], vectors[w])) for w in wrt]
            dot = _total(builder, terms, f"<d{_label(of)}, v>")
            builder.commit([dot])
            cache[key] = graph.gradients(dot, list(wrt)), vectors
        else:
            raise ValueError(
                f"hvp mode must be forward-over-reverse or reverse-over-reverse, got {mode!r}"
            )
    return cache[key]


def hvp(
    graph: Any, of: str, wrt: Sequence[str], vectors: Mapping[str, Any], /, **feeds: Any
) -> dict[str, Any]:
    """{wrt name: (H v) for it}: the Hessian of scalar `of` with respect to `wrt` (inputs or
    params, jointly) times the vectors (one array per wrt name, of its shape)."""
    outs, inputs = hvp_nodes(graph, of, wrt)
    if missing := [w for w in wrt if w not in vectors]:
        raise ValueError(f"hvp: vectors has no entry for {missing}; give one array per wrt")
    values = graph.run(list(outs.values()), **feeds, **{inputs[w]: vectors[w] for w in wrt})
    return dict(zip(outs, values, strict=True))


def hessian(graph: Any, of: str, wrt: Sequence[str], /, **feeds: Any) -> np.ndarray:
    """The dense Hessian of scalar `of` over `wrt` flattened and concatenated in order
    (n x n for n values in all; for small problems): one HVP per unit vector."""
    hvp_nodes(graph, of, wrt)  # checks the names first
    params = graph.params()
    shapes = {w: np.shape(feeds[w]) if w in feeds else params[w].value.shape for w in wrt}
    sizes = [int(np.prod(s)) for s in shapes.values()]
    n = sum(sizes)
    rows = []
    for k in range(n):
        unit = np.zeros(n)
        unit[k] = 1.0
        parts = np.split(unit, np.cumsum(sizes)[:-1])
        vectors = {w: p.reshape(shapes[w]) for w, p in zip(wrt, parts, strict=True)}
        product = hvp(graph, of, wrt, vectors, **feeds)
        rows.append(np.concatenate([np.ravel(product[w]) for w in wrt]))
    return np.array(rows)
