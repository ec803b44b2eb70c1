"""Gradient checking: backward against centered finite differences, in float64.

    check_layer(layer, x, rng)                  # x: an array, or a tuple for several inputs
    check_loss(loss, scores, y, rng)
    check_graph(graph, {"x": x, "y": y}, rng)
    check_model(model, x, rng)                  # a Model or Sequential
    result = gradcheck(obj, inputs, rng, mode="sparse", k=5)  # any of the above, never raises

The `check_*` functions raise AssertionError carrying the report when the check fails and
return the `GradcheckResult` otherwise. The object passed is never modified: the check runs on
a deep copy whose params are cast to float64 (a note says so), every layer with a `freeze()`
method frozen (after its `unfreeze()`, if any: Dropout draws one float64 mask and keeps it),
the copy of a lone layer with `needs_input_grad` on and a model's copy with its input `x`
asking for a gradient (a model trains without dx). Layers keep their train / eval mode.

Objective: f = Σ forward(inputs) * dout with a standard-normal dout drawn once from `rng`; a
loss (forward returns a float) gives f = L, dout = 1.0. An input whose entry in backward's
tuple is None (a loss's labels) is not checked, with a note. The numeric slope is
(f(x + h) - f(x - h)) / 2h over the steps actually representable around x.
Error: |a - n| / max(|a| + |n|, atol / rtol); it passes if <= rtol, i.e. if |a - n| <= atol
or |a - n| <= rtol (|a| + |n|). Defaults h = 1e-5, rtol = 1e-7, atol = 1e-8: every registered
gate stays under 4e-9 over 30 seeds, while atol = 1e-10 already fails batch_norm's rounding.

Modes: "full" checks every coordinate of every input and param (2 forwards each); "sparse" `k`
random coordinates per tensor; "fast" `directions` random unit directions u per tensor,
comparing <grad, u> with (f(x + hu) - f(x - hu)) / 2h. sparse and fast are screens that a
single wrong entry can slip through: run "full" on anything that fails or looks suspicious.

Refined estimates: a coordinate that fails at step h is measured again, and only then (a
passing coordinate costs its two forwards and no more). With D(s) the centred slope at step s,
it passes if the analytic value agrees, within the same rtol and atol, with one of
    (4 D(h/2) - D(h)) / 3,   (4 D(h/4) - D(h/2)) / 3,   D(h/16).
The first two are Richardson extrapolations: D(s) = f' + c s² + O(s⁴), so the s² terms cancel;
they rescue f with a curvature scale near h (BatchNorm or LayerNorm on flat features, where
var + eps ~ eps). D(h/16) rescues x within h of a kink but more than h/16 from it (ReLU at
x = 3e-6), where f is smooth at step h/16. For a smooth f each is a sound estimate: its
truncation error is below D(h)'s, its rounding error (~2e-16 |f| / step) at most 16 times
D(h)'s, so a backward off by a relative 1e-5, or one entry off by 1e-3, still fails. A note
names the coordinates that needed a refined estimate; the table shows the estimate that agreed.

Kinks: a failing coordinate with no agreeing refined estimate sits on a kink (ReLU at 0, a tie
in a max, a hinge at its margin) if its one-sided slopes (f(x) - f(x - s)) / s and
(f(x + s) - f(x)) / s disagree at s = h, as much at s = h/2 (a smooth f's gap halves with the
step) and still at s = h/16 (a kink farther than h/16 is left to D(h/16)). It is reported as a
kink, not a failure, when the analytic value lies between the one-sided slopes at h/16;
otherwise it fails.

Contracts checked as well: each gradient has its input's shape and dtype; backward writes
every entry of every Param.grad in place (grads hold NaN before each backward); backward is
linear in dout and repeatable; forward and backward leave the inputs, dout, the cache and the
params alone; forward is deterministic. A failing graph names its first wrong gate: the first,
in the order the graph runs them, that fails on its own with the inputs it saw in the graph.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.gradcheck.numeric import ATOL, MODES, RTOL, H, Options, compare
from gategraph.gradcheck.report import GradcheckResult, Kink, TensorRow, refined_note
from gategraph.gradcheck.targets import ContractError, GraphTarget, LayerTarget, is_graph
from gategraph.layers.base import Layer, cache_names

__all__ = [
    "ATOL",
    "H",
    "MODES",
    "RTOL",
    "GradcheckResult",
    "Kink",
    "Options",
    "TensorRow",
    "check_graph",
    "check_layer",
    "check_loss",
    "check_model",
    "gradcheck",
]

Target = LayerTarget | GraphTarget
Watched = list[tuple[str, np.ndarray, np.ndarray]]  # (what, live array, copy)


# ---- public API ----------------------------------------------------------------------------


def gradcheck(
    obj: Any, inputs: Any, rng: Generator, mode: str = "full", **options: Any
) -> GradcheckResult:
    """Check `obj` (a Layer or loss, a ComputationalGraph, a Model) at `inputs` (an array or
    a tuple of arrays; a dict for a graph). `options`: h, rtol, atol, k, directions."""
    accepted = [f.name for f in dataclasses.fields(Options) if f.name != "mode"]
    if unknown := sorted(set(options) - set(accepted)):
        raise TypeError(f"gradcheck got unknown options {unknown}; accepted: {', '.join(accepted)}")
    opts = Options(mode, **options)
    target = _target(obj, inputs)
    result = _check(target, rng, opts)
    if not result.ok and isinstance(target, GraphTarget):
        _find_first_wrong(target, rng, opts, result)
    if not result.ok and opts.mode != "full":
        result.notes.append(f"mode {opts.mode} is a screen: run mode full to see every coordinate")
    return result


def check_layer(
    layer: Layer, x: Any, rng: Generator, mode: str = "full", **options: Any
) -> GradcheckResult:
    """Raise AssertionError with the report unless `layer`'s backward matches; x: an array,
    or a tuple of arrays for a gate with several inputs (for a loss: (scores, y))."""
    return _passed(gradcheck(layer, x, rng, mode, **options))


def check_loss(
    loss: Layer, scores: Any, y: Any, rng: Generator, mode: str = "full", **options: Any
) -> GradcheckResult:
    """Raise AssertionError with the report unless dscores matches (y gets no gradient)."""
    return _passed(gradcheck(loss, (scores, y), rng, mode, **options))


def check_graph(
    graph: Any, inputs: Mapping[str, Any], rng: Generator, mode: str = "full", **options: Any
) -> GradcheckResult:
    """Raise AssertionError with the report (naming the first wrong gate) unless the graph's
    gradients of its inputs and params match."""
    return _passed(gradcheck(graph, inputs, rng, mode, **options))


def check_model(
    model: Any, x: Any, rng: Generator, mode: str = "full", **options: Any
) -> GradcheckResult:
    """check_graph for a Model or Sequential fed `x`."""
    return _passed(gradcheck(model, x, rng, mode, **options))


def _passed(result: GradcheckResult) -> GradcheckResult:
    if not result.ok:
        raise AssertionError(str(result))
    return result


def _target(obj: Any, inputs: Any) -> Target:
    if is_graph(obj):
        return GraphTarget(obj, inputs, type(obj).__name__)
    if is_graph(getattr(obj, "graph", None)):
        feed = inputs if isinstance(inputs, Mapping) else {"x": inputs}
        return GraphTarget(obj.graph, feed, type(obj).__name__, wanted=("x",))  # dx as well
    if isinstance(obj, Layer):
        return LayerTarget(obj, tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,))
    raise TypeError(
        "gradcheck expects a Layer, a loss, a ComputationalGraph or a Model, "
        f"got {type(obj).__name__}"
    )


# ---- one check -----------------------------------------------------------------------------


def _check(target: Target, rng: Generator, opts: Options) -> GradcheckResult:
    result = GradcheckResult(target.name, str(opts), notes=target.notes)
    before = _inputs(target)
    out = target.forward()
    _unchanged("forward", before, result)
    if isinstance(out, np.ndarray) and out.dtype != np.float64:
        result.problems.append(f"forward returned {out.dtype} for float64 inputs")
    dout = rng.standard_normal(out.shape) if isinstance(out, np.ndarray) else 1.0
    objective = _objective(target, dout)
    f0 = objective()
    if not _deterministic(f0, objective(), result):
        return result
    tensors = _contracts(target, dout, opts, result)
    for label, array, grad in tensors or []:
        row, kinks = compare((target.name, label), array, grad, (objective, f0), rng, opts)
        result.rows.append(row)
        result.kinks += kinks
    if note := refined_note(result.rows):
        result.notes.append(note)
    return result


def _objective(target: Target, dout: Any) -> Callable[[], float]:
    if isinstance(dout, np.ndarray):
        return lambda: float(np.add.reduce(np.multiply(target.forward(), dout), axis=None))
    return lambda: float(target.forward()) * dout


def _deterministic(f0: float, f1: float, result: GradcheckResult) -> bool:
    if not np.isfinite(f0):
        result.problems.append(f"the objective f = Σ forward * dout is {f0} at these inputs")
    elif f0 != f1:
        result.problems.append(
            f"forward is not deterministic: f = {f0!r}, then {f1!r} for the same inputs "
            "(a layer with a freeze() method is frozen for the check)"
        )
    return bool(np.isfinite(f0) and f0 == f1)


# ---- contracts -----------------------------------------------------------------------------


def _contracts(
    target: Target, dout: Any, opts: Options, result: GradcheckResult
) -> list[tuple[str, np.ndarray, np.ndarray]] | None:
    """Run backward under watch; (label, live array, analytic gradient) per tensor to compare."""
    target.forward()
    watched, grads = _watch(target), [p.grad for _, p in target.params]
    try:
        first = _backward(target, dout, result)
        _unchanged("backward", watched, result)
        _rebound(target, grads, result)
        again = _backward(target, dout)
        target.forward()
        double = _backward(target, 2 * dout)
    except ContractError as error:
        result.problems.append(str(error))
        return None
    labels = target.input_labels + [label for label, _ in target.params]
    repeat = "backward is not repeatable: a second backward(dout) gave another {}"
    _agree(repeat, labels, first, again, opts, result)
    twice = [None if g is None else 2 * g for g in first]
    linear = "backward is not linear in dout: backward(2 dout) != 2 backward(dout) for {}"
    _agree(linear, labels, twice, double, opts, result)
    return _tensors(target, first, result)


def _backward(target: Target, dout: Any, result: GradcheckResult | None = None) -> list[Any]:
    """Copies of every input gradient then every Param.grad, the grads filled with NaN first."""
    for _, p in target.params:
        p.grad[...] = np.nan  # an entry backward does not write (or adds to) stays NaN
    passed = np.array(dout, copy=True) if isinstance(dout, np.ndarray) else dout
    grads = target.backward(passed)
    if result is not None and isinstance(dout, np.ndarray) and not np.array_equal(passed, dout):
        result.problems.append(f"backward modified dout{_change(dout, passed)}: it is read-only")
    copies = [None if g is None else np.array(g, copy=True) for g in grads]
    return copies + [p.grad.copy() for _, p in target.params]


def _inputs(target: Target) -> Watched:
    return [
        (label, x, x.copy()) for label, x in zip(target.input_labels, target.inputs, strict=True)
    ]


def _watch(target: Target) -> Watched:
    """The inputs, the param values and every array in a layer's cache, with copies."""
    watched = _inputs(target)
    watched += [(f"{label} value", p.value, p.value.copy()) for label, p in target.params]
    for name, layer in target.layers.items():
        for attr in cache_names(type(layer)):
            value = layer.__dict__.get(attr)
            if isinstance(value, np.ndarray) and not any(value is w[1] for w in watched):
                watched.append((f"the cache {name}.{attr}", value, value.copy()))
    return watched


def _unchanged(when: str, watched: Watched, result: GradcheckResult) -> None:
    for what, live, before in watched:
        if not np.array_equal(live, before, equal_nan=True):
            result.problems.append(f"{when} modified {what}{_change(before, live)}")


def _change(before: np.ndarray, after: np.ndarray) -> str:
    diff = np.abs(np.asarray(after, np.float64) - before)
    where = tuple(int(i) for i in np.unravel_index(int(np.nanargmax(diff)), diff.shape))
    return f" (at {where}: {before[where]:.9g} -> {after[where]:.9g})"


def _rebound(target: Target, grads: list[np.ndarray], result: GradcheckResult) -> None:
    for (label, p), grad in zip(target.params, grads, strict=True):
        if p.grad is not grad:
            result.problems.append(
                f"backward rebound {label}'s Param.grad: write it in place (out= or grad[...] =)"
            )


def _agree(
    what: str, labels: list[str], a: list[Any], b: list[Any], opts: Options, result: GradcheckResult
) -> None:
    for label, x, y in zip(labels, a, b, strict=True):
        if x is None or y is None or x.shape != y.shape:
            continue
        err = np.where(np.isnan(x) & np.isnan(y), 0.0, opts.errors(x, y))  # unwritten: said once
        if err.max(initial=0.0) <= opts.rtol:
            continue
        where = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
        result.problems.append(
            f"{what.format(label)} (at {where}: {x[where]:.9g} vs {y[where]:.9g})"
        )


def _tensors(target: Target, grads: list[Any], result: GradcheckResult) -> list[Any]:
    """Check each gradient's shape, dtype and completeness; keep those whose values compare."""
    entries = [
        (label, x, False) for label, x in zip(target.input_labels, target.inputs, strict=True)
    ]
    entries += [(label, p.value, True) for label, p in target.params]
    tensors, skipped = [], []
    for (label, array, is_param), grad in zip(entries, grads, strict=True):
        if array.dtype.kind != "f" or (grad is None and not target.strict):
            skipped.append(label)
        elif grad is None:
            result.problems.append(f"backward returned None for {label}")
        elif grad.shape != array.shape:
            result.problems.append(
                f"{label}: gradient of shape {grad.shape}, expected {array.shape}"
            )
        else:
            if grad.dtype != array.dtype:
                result.problems.append(
                    f"{label}: gradient of dtype {grad.dtype}, expected {array.dtype}"
                )
            if is_param and (unset := int(np.isnan(grad).sum())):
                result.problems.append(
                    f"backward left {unset} of {grad.size} entries of {label}'s grad unwritten "
                    "(they hold NaN before backward): write every entry, never +="
                )
            tensors.append((label, array, grad.astype(np.float64)))
    if skipped:
        result.notes.append(f"no gradient, not checked: {', '.join(skipped)}")
    return tensors


# ---- graphs --------------------------------------------------------------------------------


def _find_first_wrong(
    target: GraphTarget, rng: Generator, opts: Options, result: GradcheckResult
) -> None:
    """Check each gate, in running order, with copies of the inputs it saw in a forward pass."""
    for node, (layer, inputs) in target.gate_inputs().items():
        try:
            sub = _check(LayerTarget(layer, inputs, node), rng, opts)
        except Exception as error:  # a gate that raises on the inputs it saw is wrong too
            sub = GradcheckResult(f"node {node!r} ({type(layer).__name__})", str(opts))
            sub.problems.append(f"raised {type(error).__name__}: {error}")
        if not sub.ok:
            result.first_wrong = sub
            return
    result.culprit_note = (
        "every gate passes on its own with the inputs it saw in the forward pass: "
        "look at the wiring and at the adding of gradients where a value fans out"
    )
