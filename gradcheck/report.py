"""Gradient-check results: one row per tensor, the kinks met, contract problems, a report."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TensorRow:
    """How one tensor's analytic gradient compared with centered finite differences.

    `max_error` is the worst floored relative error |a - n| / max(|a| + |n|, atol / rtol) over
    the coordinates (modes full, sparse) or directions (mode fast) checked, kinks inside their
    bracket left out; `failed` counts those beyond the tolerance (the report says "FAIL (n of
    checked)"); `index` is the worst coordinate (None in mode fast, see `where`).
    `refined` lists the coordinates (or directions) that failed at step h and passed on a
    refined estimate (Richardson or step h/16): their `numeric` is that estimate.
    """

    layer: str  # "Affine", or "node 'fc2' (Affine)" inside a graph
    tensor: str  # "input 0 (x)", "param W", "input x", "param fc2.W"
    shape: tuple[int, ...]
    checked: int
    max_error: float
    where: str  # "(1, 2)" or "direction 0"
    index: tuple[int, ...] | None
    analytic: float
    numeric: float
    ok: bool
    kinks: int = 0
    refined: tuple[str, ...] = ()
    failed: int = 0


@dataclass(frozen=True)
class Kink:
    """A coordinate (or direction) where f is not differentiable within h/16 of x: the
    one-sided slopes disagree at steps h, h/2 and h/16. `left` and `right` are those at h/16;
    the analytic value must lie between them."""

    layer: str
    tensor: str
    where: str
    index: tuple[int, ...] | None
    left: float
    right: float
    analytic: float
    inside: bool


@dataclass
class GradcheckResult:
    """Everything a check found. `ok` is False on any failing row or contract problem.

    `problems` are broken contracts (shape or dtype of a gradient, dout or the cache modified,
    backward not linear in dout or not repeatable, Param.grad not fully written); `notes` say
    what the check did to the object (a float64 copy, frozen randomness, unchecked labels).
    For a graph that fails, `first_wrong` is the check of the first gate, in topological
    order, that fails on its own with the inputs it saw in the graph's forward pass.
    """

    target: str
    settings: str
    rows: list[TensorRow] = field(default_factory=list)
    kinks: list[Kink] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_wrong: "GradcheckResult | None" = None
    culprit_note: str = ""  # for a failing graph whose gates all pass on their own

    @property
    def ok(self) -> bool:
        return not self.problems and all(row.ok for row in self.rows)

    @property
    def max_error(self) -> float:
        return max((row.max_error for row in self.rows), default=0.0)

    def failures(self) -> list[TensorRow]:
        return [row for row in self.rows if not row.ok]

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        lines = [f"gradcheck of {self.target}: {verdict} ({self.settings})"]
        if self.rows:
            lines += ["  " + row for row in format_table(_HEADER, [_cells(r) for r in self.rows])]
        inside = [k for k in self.kinks if k.inside]
        shown = [k for k in self.kinks if not k.inside] + inside[:_KINKS_SHOWN]
        lines += [f"  kink: {_kink_text(k)}" for k in shown]
        if len(inside) > _KINKS_SHOWN:
            lines.append(
                f"  ... and {len(inside) - _KINKS_SHOWN} more kinks, each inside its slopes"
            )
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        if self.first_wrong is not None:
            lines.append(f"first wrong gate: {self.first_wrong.target}")
            lines += ["  " + line for line in str(self.first_wrong).splitlines()]
        if self.culprit_note:
            lines.append(self.culprit_note)
        return "\n".join(lines)


_KINKS_SHOWN = 5  # kinks inside their slopes listed in a report; those outside all are
_REFINED_SHOWN = 5  # coordinates per tensor named in the note on refined estimates
_HEADER = ("tensor", "shape", "checked", "max rel err", "worst", "analytic", "numeric", "verdict")


def _cells(row: TensorRow) -> tuple[str, ...]:
    verdict = "ok" if row.ok else f"FAIL ({row.failed} of {row.checked})"
    compared = row.where != "-"  # "-": every coordinate was a kink, or the tensor is empty
    analytic = f"{row.analytic:.9g}" if compared else "-"
    numeric = f"{row.numeric:.9g}" if compared else "-"
    if row.kinks:
        verdict += f" ({row.kinks} kink{'s' * (row.kinks > 1)})"
    if row.refined:
        verdict += f" ({len(row.refined)} refined)"
    return (
        row.tensor,
        str(row.shape),
        str(row.checked),
        f"{row.max_error:.2e}",
        row.where,
        analytic,
        numeric,
        verdict,
    )


def _kink_text(kink: Kink) -> str:
    inside = "inside: ok" if kink.inside else "OUTSIDE: wrong"
    return (
        f"{kink.layer} {kink.tensor} at {kink.where}: one-sided slopes "
        f"[{kink.left:.6g}, {kink.right:.6g}], analytic {kink.analytic:.6g} ({inside})"
    )


def refined_note(rows: list[TensorRow]) -> str | None:
    """The note naming the coordinates that passed only on a refined estimate, if any."""
    tensors = []
    for row in rows:
        if row.refined:
            shown = ", ".join(row.refined[:_REFINED_SHOWN])
            more = len(row.refined) - _REFINED_SHOWN
            tensors.append(f"{row.layer} {row.tensor} at {shown}{f' and {more} more' * (more > 0)}")
    if not tensors:
        return None
    return (
        "refined estimate needed (failed at step h, agreed with (4 D(h/2) - D(h)) / 3, "
        f"(4 D(h/4) - D(h/2)) / 3 or D(h/16)): {'; '.join(tensors)}"
    )


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns two spaces apart, the header first."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (header, *rows)
    ]
