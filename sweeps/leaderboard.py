"""A sweep's results table: finished trials, best first, with their parameters and metrics."""

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from gategraph.sweeps.storage import RECORD


def leaderboard(study: optuna.Study) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): finished trials, best first (completed ones by their metric, ties in
    accuracy by the same split's loss, then pruned ones by the last value they reported),
    with parameters and final metrics."""
    record = study.user_attrs.get(RECORD, {})
    metric = record.get("metric", "value")
    keys = list(record.get("space", {}))
    done = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    trials = study.get_trials(deepcopy=False, states=done)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0

    def order(t: optuna.trial.FrozenTrial) -> tuple[bool, float, float]:
        value = t.value if t.value is not None else _last_value(t)
        split = t.user_attrs.get("final", {}).get(metric.split("_")[0], {})
        loss = split.get("loss") if metric.endswith("_acc") else None
        return (
            t.state != done[0],
            sign * value if value is not None else math.inf,
            loss if loss is not None else math.inf,
        )

    rows = [_row(rank, t, metric, keys) for rank, t in enumerate(sorted(trials, key=order), 1)]
    splits = [s for s in ("train", "val", "test") if any(f"{s}_acc" in r for r in rows)]
    finals = [f"{s}_{k}" for s in splits for k in ("acc", "loss") if f"{s}_{k}" != metric]
    columns = ["rank", "trial", "state", metric, *keys, "epochs", *finals, "run", "worker"]
    return columns, rows


def _last_value(trial: optuna.trial.FrozenTrial) -> float | None:
    values = trial.intermediate_values
    return values[max(values)] if values else None


def _row(rank: int, trial: optuna.trial.FrozenTrial, metric: str, keys: list[str]) -> dict:
    attrs = trial.user_attrs
    value = trial.value if trial.value is not None else _last_value(trial)
    row = {"rank": rank, "trial": trial.number, "state": trial.state.name.lower(), metric: value}
    row.update({k: trial.params.get(k) for k in keys})
    row["epochs"] = attrs.get("epochs", max(trial.intermediate_values, default=0))
    for split, metrics in attrs.get("final", {}).items():
        row.update({f"{split}_{k}": v for k, v in metrics.items()})
    row.update(run=attrs.get("run", ""), worker=attrs.get("worker", ""))
    return row


def counts(study: optuna.Study) -> dict[str, int]:
    """How many trials are in each state: complete, pruned, fail, running, waiting."""
    found: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name.lower()
        found[name] = found.get(name, 0) + 1
    return found


def write_leaderboard(
    path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """leaderboard.csv: one row per finished trial, every column, full precision."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
