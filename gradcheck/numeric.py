"""Finite differences for the gradient check: tolerances, probes, slopes, refinement, kinks."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.gradcheck.report import Kink, TensorRow

H = 1e-5
RTOL = 1e-7
ATOL = 1e-8
MODES = ("full", "sparse", "fast")
KINK_RATIO = 0.75  # one-sided gap at h/2 over gap at h: 1 for a kink at x, 1/2 for a smooth f
FINER = (2, 4, 16)  # a failing coordinate is measured again at steps h/2, h/4, h/16

Objective = tuple[Callable[[], float], float]  # (f, f at the unperturbed inputs)
Slopes = tuple[float, float, float]  # central, left and right slope at one step


@dataclass(frozen=True)
class Options:
    """How to check: `mode` ("full", "sparse", "fast"), step `h`, tolerances `rtol` and `atol`,
    `k` random coordinates per tensor (sparse), `directions` random directions per tensor (fast).

    Error of an analytic value a against a numeric one n: |a - n| / max(|a| + |n|, atol / rtol);
    it passes if <= rtol, i.e. if |a - n| <= atol or |a - n| <= rtol (|a| + |n|).
    """

    mode: str = "full"
    h: float = H
    rtol: float = RTOL
    atol: float = ATOL
    k: int = 10
    directions: int = 3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"gradcheck mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name, zero_ok in (("h", False), ("rtol", False), ("atol", True)):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and np.isfinite(value) and (value > 0 or zero_ok and value == 0)):
                bound = ">= 0" if zero_ok else "> 0"
                raise ValueError(f"gradcheck needs a finite {name} {bound}, got {value!r}")
        for name in ("k", "directions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"gradcheck needs {name} to be a positive integer, got {value!r}")

    def __str__(self) -> str:
        extra = {"sparse": f" k={self.k}", "fast": f" directions={self.directions}"}
        tolerances = f"h={self.h:g}, rtol={self.rtol:g}, atol={self.atol:g}"
        return f"mode {self.mode}{extra.get(self.mode, '')}; {tolerances}"

    def errors(self, a: Any, n: Any) -> np.ndarray:
        """|a - n| / max(|a| + |n|, atol / rtol), elementwise; inf where not finite."""
        a, n = np.asarray(a, np.float64), np.asarray(n, np.float64)
        floor = max(self.atol / self.rtol, np.finfo(np.float64).tiny)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)
        return np.where(np.isfinite(err), err, np.inf)

    def close(self, a: Any, n: Any) -> bool:
        return bool(np.all(self.errors(a, n) <= self.rtol))


@dataclass(frozen=True)
class _Probe:
    """One coordinate or direction e of a tensor: `move(s)` sets it to x + s e and returns the
    step actually taken; `move(0)` restores x exactly."""

    where: str
    index: tuple[int, ...] | None
    analytic: float
    move: Callable[[float], float]


def compare(
    who: tuple[str, str],
    array: np.ndarray,
    grad: np.ndarray,
    objective: Objective,
    rng: Generator,
    opts: Options,
) -> tuple[TensorRow, list[Kink]]:
    """Compare `grad` with finite differences of f along `array` (perturbed in place and
    restored); `who` is (layer, tensor) for the report. Only coordinates that fail at step h
    are measured again (`_recheck`): passing ones cost two forwards each."""
    fast = opts.mode == "fast"
    probes = (_directions if fast else _coordinates)(array, grad, rng, opts)
    slopes = np.array([_slopes(objective, p.move, opts.h) for p in probes]).reshape(-1, 3)
    numeric = slopes[:, 0].copy()
    errors = opts.errors([p.analytic for p in probes], numeric)
    counted = np.ones(len(probes), bool)  # False: a kink with the analytic value inside
    kinks, refined = [], []
    for i in np.flatnonzero(errors > opts.rtol):
        probe = probes[i]
        found = _recheck(who, probe, tuple(slopes[i]), objective, opts)
        if isinstance(found, Kink):
            kinks.append(found)
            counted[i] = not found.inside
        elif found is not None:
            numeric[i], errors[i] = found, opts.errors(probe.analytic, found)
            refined.append(probe.where)
    compared = (numeric, errors, counted)
    return _row(who, array.shape, probes, compared, (len(kinks), tuple(refined)), opts), kinks


def _recheck(
    who: tuple[str, str], probe: _Probe, coarse: Slopes, objective: Objective, opts: Options
) -> float | Kink | None:
    """A coordinate failing at step h, measured again at h/2, h/4 and h/16: the refined
    estimate that agrees with the analytic value, else the kink it sits on, else None."""
    slopes = {1: coarse} | {q: _slopes(objective, probe.move, opts.h / q) for q in FINER}
    if (estimate := _refined(probe.analytic, slopes, opts)) is not None:
        return estimate
    if not _is_kink(slopes, opts):
        return None
    _, left, right = slopes[16]
    inside = _between(probe.analytic, left, right, opts)
    return Kink(*who, probe.where, probe.index, left, right, probe.analytic, inside)


def _refined(analytic: float, slopes: dict[int, Slopes], opts: Options) -> float | None:
    """The estimate nearest `analytic` among (4 D(h/2) - D(h)) / 3, (4 D(h/4) - D(h/2)) / 3
    (Richardson: the h² error terms cancel) and D(h/16), if it agrees within the tolerance;
    D(s) is the centred slope at step s."""
    D = {q: central for q, (central, _, _) in slopes.items()}
    estimates = np.array([(4 * D[2] - D[1]) / 3, (4 * D[4] - D[2]) / 3, D[16]])
    errors = opts.errors(analytic, estimates)
    best = int(np.argmin(errors))
    return float(estimates[best]) if errors[best] <= opts.rtol else None


def _row(
    who: tuple[str, str],
    shape: tuple[int, ...],
    probes: list[_Probe],
    compared: tuple[np.ndarray, np.ndarray, np.ndarray],
    rechecked: tuple[int, tuple[str, ...]],
    opts: Options,
) -> TensorRow:
    """numeric, errors, counted per probe; rechecked: (kinks, refined probes)."""
    numeric, errors, counted = compared
    candidates = np.flatnonzero(counted)
    worst = int(candidates[np.argmax(errors[candidates])]) if candidates.size else None
    probe = None if worst is None else probes[worst]
    return TensorRow(
        *who,
        shape=shape,
        checked=len(probes),
        max_error=0.0 if worst is None else float(errors[worst]),
        where="-" if probe is None else probe.where,
        index=None if probe is None else probe.index,
        analytic=np.nan if probe is None else probe.analytic,
        numeric=np.nan if worst is None else float(numeric[worst]),
        ok=bool(np.all(errors[counted] <= opts.rtol)),
        kinks=rechecked[0],
        refined=rechecked[1],
        failed=int(np.count_nonzero(errors[counted] > opts.rtol)),
    )


def _coordinates(
    array: np.ndarray, grad: np.ndarray, rng: Generator, opts: Options
) -> list[_Probe]:
    if opts.mode == "full" or array.size <= opts.k:
        flat = np.arange(array.size)
    else:
        flat = np.sort(rng.choice(array.size, opts.k, replace=False))
    if array.ndim:
        indices = [tuple(i) for i in np.array(np.unravel_index(flat, array.shape)).T.tolist()]
    else:
        indices = [()] * len(flat)
    analytic = grad.reshape(-1)[flat].tolist()
    return [
        _Probe(str(index), index, a, _mover(array, index))
        for index, a in zip(indices, analytic, strict=True)
    ]


def _mover(array: np.ndarray, index: tuple[int, ...]) -> Callable[[float], float]:
    x = array[index]

    def move(s: float) -> float:
        array[index] = x + s if s else x
        return float(array[index] - x)  # x + s rounds: divide by the step really taken

    return move


def _directions(array: np.ndarray, grad: np.ndarray, rng: Generator, opts: Options) -> list[_Probe]:
    probes = []
    for j in range(opts.directions if array.size else 0):
        u = rng.standard_normal(array.shape)
        u /= np.linalg.norm(u)
        analytic = float(np.vdot(grad, u))
        probes.append(_Probe(f"direction {j}", None, analytic, _direction_mover(array, u)))
    return probes


def _direction_mover(array: np.ndarray, u: np.ndarray) -> Callable[[float], float]:
    x = array.copy()

    def move(s: float) -> float:
        if s:
            np.add(x, s * u, out=array)
        else:
            np.copyto(array, x)
        return s

    return move


def _slopes(
    objective: Objective, move: Callable[[float], float], h: float
) -> tuple[float, float, float]:
    """Central, left and right slopes of s -> f(x + s e) at s = 0."""
    f, f0 = objective
    up = move(h)
    f_up = f()
    down = -move(-h)
    f_down = f()
    move(0.0)
    return (f_up - f_down) / (up + down), (f0 - f_down) / down, (f_up - f0) / up


def _is_kink(slopes: dict[int, Slopes], opts: Options) -> bool:
    """The one-sided slopes disagree beyond tolerance at h, as much at h/2 (a smooth f's gap
    halves with the step) and still at h/16 (else the kink lies beyond h/16: x is smooth)."""
    gaps = {q: right - left for q, (_, left, right) in slopes.items()}
    if any(opts.close(slopes[q][1], slopes[q][2]) for q in (1, 16)):
        return False
    return abs(gaps[2]) >= KINK_RATIO * abs(gaps[1])


def _between(analytic: float, left: float, right: float, opts: Options) -> bool:
    low, high = min(left, right), max(left, right)
    return low <= analytic <= high or opts.close(analytic, low) or opts.close(analytic, high)
