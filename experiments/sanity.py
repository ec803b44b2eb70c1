"""Sanity checks before a long training, as CS231n's "babysitting the learning process" runs
them: the loss at initialization, overfitting a tiny subset, a gradient check of the model.

    report = run_sanity(load_experiment("configs/mlp.yaml")[1])
    print(report)          # one row per check: PASS, WARN, FAIL (or SKIP) and its numbers
    report.ok              # False when a check failed

Nothing of the experiment changes: the checks train deep copies of the model and loss with
their own optimizers, and draw from their own generators seeded by the config's seed (so the
experiment's `rng`, and the training that follows, are untouched).
"""

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.experiments.build import Experiment
from gategraph.gradcheck.check import RTOL, gradcheck
from gategraph.gradcheck.report import GradcheckResult, format_table
from gategraph.losses.base import Loss
from gategraph.models.graph import ComputationalGraph
from gategraph.models.sequential import Model
from gategraph.optim import OPTIMIZERS, Optimizer
from gategraph.training.evaluation import labels_of

INIT_LOSS_BAND = 0.25  # PASS: the initial loss is within 25% of its expected value
INIT_LOSS_FAIL = 3.0  # FAIL: more than 3 times the expected value; WARN in between or below
OVERFIT_EXAMPLES, OVERFIT_STEPS = 20, 200
REGRESSION_FIT = 1e-2  # without class labels, overfitting means loss <= 1% of its start
GRADCHECK_EXAMPLES, BURN_IN_STEPS = 4, 10
FULL_CHECK_PARAMS = 10_000  # mode full up to this many params, else mode sparse
SPARSE_K = 20  # coordinates per tensor in mode sparse
MAX_KINKS_LISTED = 10
VERDICTS = ("PASS", "WARN", "FAIL", "SKIP")


@dataclass(frozen=True)
class Check:
    """One check's outcome: `verdict` (PASS, WARN, FAIL or SKIP), `result` (one line with the
    numbers) and `details` (hints, kinks, a failing gradient check's report)."""

    name: str
    verdict: str
    result: str
    details: tuple[str, ...] = ()


@dataclass
class SanityReport:
    """The checks of one experiment; `ok` unless one FAILed. str() is the printed report."""

    target: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.verdict != "FAIL" for check in self.checks)

    def __str__(self) -> str:
        rows = [(c.name, c.verdict, c.result) for c in self.checks]
        lines = [
            f"sanity checks of {self.target}",
            *format_table(("check", "verdict", "result"), rows),
        ]
        for check in self.checks:
            lines += [f"{check.name}: {line}" for line in check.details]
        counts = {v: sum(c.verdict == v for c in self.checks) for v in VERDICTS}
        verdict = "FAILED" if not self.ok else "passed"
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        return "\n".join([*lines, f"sanity checks {verdict} ({summary})"])


def run_sanity(
    experiment: Experiment,
    *,
    target: str = "the experiment",
    examples: int = OVERFIT_EXAMPLES,
    steps: int = OVERFIT_STEPS,
    burn_in: int = BURN_IN_STEPS,
) -> SanityReport:
    """The three checks before training: initial loss, overfitting `examples` training
    samples within `steps` full-batch steps, a gradient check after `burn_in` steps."""
    checks = [
        check_initial_loss(experiment),
        check_overfit(experiment, examples=examples, steps=steps),
        check_gradients(experiment, burn_in=burn_in),
    ]
    return SanityReport(target, checks)


# ---- 1. the loss at initialization ----------------------------------------------------------


def expected_initial_loss(loss: Loss, n_classes: int | None) -> tuple[float, str] | None:
    """(value, how it reads) of the loss when every score is about 0 (small weights): ln C for
    softmax cross-entropy, (C - 1) * margin for the SVM hinge, ln 2 for sigmoid BCE; None
    for any other loss (or without class labels)."""
    if loss.key == "sigmoid_bce":
        return math.log(2), "ln 2"
    if n_classes is None or n_classes < 2:
        return None
    if loss.key == "softmax_cross_entropy":
        return math.log(n_classes), f"ln {n_classes}"
    margin = getattr(loss, "margin", 0.0)
    if loss.key == "svm_hinge" and margin > 0:
        return (n_classes - 1) * margin, f"(C - 1) * margin = {n_classes - 1} * {margin:g}"
    return None


def check_initial_loss(experiment: Experiment) -> Check:
    """The data loss of the untrained model on the training split (eval mode) against its
    expected value: PASS within INIT_LOSS_BAND of it, FAIL above INIT_LOSS_FAIL times it,
    WARN in between or below the band. The loss with the L2 term is reported beside it."""
    name = "initial loss"
    X, y = experiment.splits.train
    value = _data_loss(experiment.model, experiment.loss, X, y)
    decay = experiment.optimizer.weight_decay
    with_l2 = f"with L2 (weight_decay {decay:g}): {value + experiment.optimizer.penalty():.4g}"
    expected = expected_initial_loss(experiment.loss, experiment.n_classes)
    if not math.isfinite(value):
        return Check(name, "FAIL", f"{value} at init: the forward pass overflows", (_BIG,))
    if expected is None:
        result = f"{value:.4g}, no expected value for loss {experiment.loss.key!r}; {with_l2}"
        return Check(name, "SKIP", result)
    target, formula = expected
    ratio = value / target
    said = f"{value:.4g} vs {formula} = {target:.4g} expected ({ratio:.2f}x, {{}}); {with_l2}"
    if abs(ratio - 1) <= INIT_LOSS_BAND:
        return Check(name, "PASS", said.format(f"within ±{INIT_LOSS_BAND:.0%}"))
    if ratio > INIT_LOSS_FAIL:
        return Check(name, "FAIL", said.format(f"over {INIT_LOSS_FAIL:g}x"), (_BIG,))
    hint = _LARGE if ratio > 1 else _BELOW
    return Check(name, "WARN", said.format(f"outside ±{INIT_LOSS_BAND:.0%}"), (hint,))


_BIG = (
    "far above chance at init: weights initialized too large (model.layers[i].init, "
    "init_scale) or a broken loss"
)
_LARGE = (
    "the scores at init are large, so the net starts confidently wrong on some samples: "
    "initialize the last layer small (init: normal, init_scale: 0.01) to start at chance"
)
_BELOW = "below chance at init: check that the labels do not leak into the inputs"


# ---- 2. overfitting a tiny subset -----------------------------------------------------------


def check_overfit(
    experiment: Experiment,
    *,
    examples: int = OVERFIT_EXAMPLES,
    steps: int = OVERFIT_STEPS,
    lr: float | None = None,
) -> Check:
    """Train a copy on `examples` training samples, full batch, for up to `steps` steps with
    the config's optimizer (its lr, or `lr`; no weight decay, no schedule): PASS once the
    training accuracy (eval mode) is 100% (for labels that are no class ids: once the loss is
    down to REGRESSION_FIT of its start), FAIL with what it reached otherwise."""
    rng = _generator(experiment, 1)
    X, y = experiment.splits.train
    pick = rng.choice(len(X), size=min(examples, len(X)), replace=False)
    xs, ys, name = X[pick], y[pick], f"overfit {len(pick)}"
    model, loss, optimizer = _trainable_copy(experiment, weight_decay=0.0, lr=lr)
    fitted = _fitted_test(model, loss, xs, ys)
    setup = f"{optimizer.key}, lr {optimizer.lr:g}, weight decay off"
    reached = fitted()[1]
    for step in range(1, steps + 1):
        if not math.isfinite(_train_step(model, loss, optimizer, xs, ys)):
            return Check(name, "FAIL", f"the loss diverged at step {step} ({setup})")
        done, reached = fitted()
        if done:
            return Check(name, "PASS", f"{reached} in {step} of {steps} steps ({setup})")
    hint = "a model that cannot overfit a few samples has a bug, too little capacity or a bad lr"
    return Check(name, "FAIL", f"only {reached} after {steps} steps ({setup})", (hint,))


def _fitted_test(
    model: Model, loss: Loss, xs: np.ndarray, ys: np.ndarray
) -> Callable[[], tuple[bool, str]]:
    """A function returning (fitted?, what was reached) for the model as it is now."""
    classify = ys.dtype.kind in "iu"
    with np.errstate(all="ignore"):
        start = loss.forward(model.predict(xs), ys)

    def fitted() -> tuple[bool, str]:
        with np.errstate(all="ignore"):  # a diverging run is reported, not warned about
            scores = model.predict(xs)
            value = loss.forward(scores, ys)
        if classify:
            correct = int(np.count_nonzero(labels_of(scores) == ys))
            text = f"{correct / len(ys):.0%} train accuracy ({correct}/{len(ys)}, loss {value:.4g})"
            return correct == len(ys), text
        share = value / start if start else 0.0
        text = f"loss {value:.4g} ({share:.2%} of its start {start:.4g})"
        return value <= REGRESSION_FIT * start, text

    return fitted


# ---- 3. the gradient check of the whole model -----------------------------------------------


def check_gradients(
    experiment: Experiment, *, examples: int = GRADCHECK_EXAMPLES, burn_in: int = BURN_IN_STEPS
) -> Check:
    """Train a copy `burn_in` minibatch steps (the config's optimizer and batch size), then
    check the gradient of the data loss with respect to every param, model and loss as one
    float64 graph, on `examples` training samples (layers.gradcheck: mode full up to
    FULL_CHECK_PARAMS params, else sparse). Kinks met are listed."""
    rng = _generator(experiment, 2)
    X, y = experiment.splits.train
    model, loss, optimizer = _trainable_copy(experiment)
    batch = min(experiment.config["train"]["batch_size"], len(X))
    for _ in range(burn_in):
        pick = rng.choice(len(X), size=batch, replace=False)
        if not math.isfinite(_train_step(model, loss, optimizer, X[pick], y[pick])):
            break
    pick = rng.choice(len(X), size=min(examples, len(X)), replace=False)
    graph, labels = model_with_loss(model, loss)
    n_params = sum(p.value.size for p in model.params().values())
    mode = "full" if n_params <= FULL_CHECK_PARAMS else "sparse"
    result = gradcheck(graph, {"x": X[pick], labels: y[pick]}, rng, mode=mode, k=SPARSE_K)
    return _gradient_check(result, mode, n_params, len(pick), burn_in)


def _gradient_check(
    result: GradcheckResult, mode: str, n_params: int, examples: int, burn_in: int
) -> Check:
    checked = sum(row.checked for row in result.rows)
    share = f"all {n_params}" if checked == n_params else f"{checked} of {n_params}"
    where = f"{share} params ({mode}), {examples} examples, after {burn_in} steps"
    kinks = [
        f"kink at {k.layer} {k.tensor} {k.where}: one-sided slopes [{k.left:.4g}, "
        f"{k.right:.4g}], analytic {k.analytic:.4g} ({'inside' if k.inside else 'OUTSIDE'})"
        for k in result.kinks[:MAX_KINKS_LISTED]
    ]
    if len(result.kinks) > MAX_KINKS_LISTED:
        kinks.append(f"... and {len(result.kinks) - MAX_KINKS_LISTED} more kinks")
    found = f"{len(result.kinks)} kink{'s' * (len(result.kinks) != 1)}"
    if result.ok:
        text = f"max rel error {result.max_error:.2e} <= {RTOL:g} on {where}; {found}"
        return Check("gradient check", "PASS", text, tuple(kinks))
    wrong = result.first_wrong.target if result.first_wrong is not None else "none on its own"
    text = f"max rel error {result.max_error:.2e} > {RTOL:g} on {where}; first wrong gate: {wrong}"
    return Check("gradient check", "FAIL", text, tuple(str(result).splitlines()))


def model_with_loss(model: Model, loss: Loss) -> tuple[ComputationalGraph, str]:
    """(graph, labels input): a copy of the model's graph ending in a copy of `loss`, fed
    `x` and the labels (both without gradient), its output the data loss."""
    model, loss = copy.deepcopy((model, loss))
    nodes = model.graph.nodes()
    graph = ComputationalGraph()
    for name, (layer, inputs) in nodes.items():
        if layer is None:
            graph.input(name, grad=False)
        else:
            graph.add(layer, *inputs, name=name)
    labels = _free_name("y", nodes)
    graph.input(labels, grad=False)
    graph.add(loss, model.graph.output_name, labels, name=_free_name("loss", nodes))
    return graph, labels


def _free_name(base: str, taken: dict[str, Any]) -> str:
    return next(
        n for n in (base, *(f"{base}{i}" for i in range(1, len(taken) + 2))) if n not in taken
    )


# ---- shared -----------------------------------------------------------------------------------


def _generator(experiment: Experiment, check: int) -> Generator:
    """The check's own stream, from the config's seed: the experiment's rng is left alone."""
    return np.random.default_rng([experiment.config["seed"], check])


def _trainable_copy(
    experiment: Experiment, *, weight_decay: float | None = None, lr: float | None = None
) -> tuple[Model, Loss, Optimizer]:
    """Deep copies of the model and loss, and a fresh optimizer of the config's type over the
    copy; `weight_decay` and `lr` replace the config's (lr set after construction, so 0 works)."""
    model, loss = copy.deepcopy((experiment.model, experiment.loss))
    spec = dict(experiment.config["optim"])
    if weight_decay is not None and "weight_decay" in spec:
        spec["weight_decay"] = weight_decay
    optimizer = OPTIMIZERS.build(spec, params=list(model.params().values()))
    if lr is not None:
        optimizer.lr = lr
    model.train()
    return model, loss, optimizer


def _data_loss(model: Model, loss: Loss, X: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    """The mean data loss over (X, y) in eval mode, `batch` rows at a time."""
    total = 0.0
    with np.errstate(all="ignore"):
        for start in range(0, len(X), batch):
            xb, yb = X[start : start + batch], y[start : start + batch]
            total += loss.forward(model.predict(xb), yb) * len(xb)
    loss.clear_cache()
    return total / len(X)


def _train_step(
    model: Model, loss: Loss, optimizer: Optimizer, x: np.ndarray, y: np.ndarray
) -> float:
    """One step on (x, y); the loss before it, not applied when it is not finite."""
    with np.errstate(all="ignore"):
        value = loss.forward(model.forward(x), y)
        if math.isfinite(value):
            dscores, _ = loss.backward()
            model.backward(dscores)
            optimizer.step()
    return value
