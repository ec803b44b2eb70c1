"""Resuming a run: which config changes a resumed run may make, the data's fingerprint, and
the checks a checkpoint's state passes before anything is loaded or written."""

import hashlib
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gategraph.saving.checkpoint import CheckpointError

# Config keys a resumed run may change: they alter when training stops or saves, never the
# state it resumes from. `train.epochs` is refused with a cosine schedule, whose curve uses it.
SAFE_TO_CHANGE = (
    "train.epochs",
    "train.early_stopping.patience",
    "train.checkpoint_every_epochs",
    "train.checkpoint_every_steps",
)


def config_changes(old: Any, new: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old, new)} for every leaf that differs between two configs."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: dict[str, tuple[Any, Any]] = {}
        for key in list(old) + [k for k in new if k not in old]:
            changes |= config_changes(old.get(key), new.get(key), f"{prefix}{key}.")
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = {}
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            changes |= config_changes(a, b, f"{prefix.rstrip('.')}[{i}].")
        return changes
    return {} if old == new else {prefix.rstrip("."): (old, new)}


def check_resume_config(old: Mapping[str, Any], new: Mapping[str, Any], *, run: Path) -> None:
    """Refuse a config that differs from the checkpoint's outside SAFE_TO_CHANGE."""
    changes = config_changes(old, new)
    safe = set(SAFE_TO_CHANGE)
    if (new.get("schedule") or {}).get("type") == "cosine":
        safe.discard("train.epochs")
    unsafe = {k: v for k, v in changes.items() if k not in safe}
    if unsafe:
        raise ValueError(
            f"cannot resume {run} with a changed config: {_listed(unsafe)}; only "
            f"{', '.join(sorted(safe))} may change (start a new run for anything else)"
        )


def check_same_split(
    saved: Mapping[str, Any], current: Mapping[str, Any], *, run: Path, split: bool = True
) -> str | None:
    """Compare a run's config.yaml (`current`) with its checkpoint's config (`saved`), as
    evaluating on the run's own data needs: refuse (ValueError) a difference in `seed` or
    `data`, which decide the samples of each split (with `split`; else only warn); return a
    one-line warning for other differences outside SAFE_TO_CHANGE, None when there are none."""
    changes = config_changes(saved, current)
    deciding = {k: v for k, v in changes.items() if k == "seed" or k.startswith(("data.", "data["))}
    if split and deciding:
        raise ValueError(
            f"cannot evaluate {run}: its config.yaml differs from the checkpoint's config in "
            f"{_listed(deciding)}, which changes the samples of each split; restore config.yaml"
        )
    other = {k: v for k, v in changes.items() if k not in SAFE_TO_CHANGE}
    if not other:
        return None
    return f"{run}: config.yaml differs from the checkpoint's config in {_listed(other)}"


def _listed(changes: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in changes.items())


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the training arrays, to refuse resuming on data that changed."""
    digest = hashlib.sha256()
    for array in (X, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


_PROGRESS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "epoch": ("an integer >= 0", _count),
    "step": ("an integer >= 0", _count),
    "global_step": ("an integer >= 0", _count),
    "perm": ("null or an integer array", lambda v: v is None or isinstance(v, np.ndarray)),
    "loss_sum": ("a finite number", _real),
    "correct": ("an integer >= 0", _count),
    "seen": ("an integer >= 0", _count),
    "seconds": ("a finite number", _real),
    "best": ("null or a finite number", lambda v: v is None or _real(v)),
    "best_epoch": ("an integer >= 0", _count),
    "bad_epochs": ("an integer >= 0", _count),
    "stopped": ("true or false", lambda v: isinstance(v, bool)),
}


def check_state(state: Mapping[str, Any], n_train: int, *, source: str) -> None:
    """Refuse a checkpoint state whose progress or history a trainer could not have saved for
    `n_train` training samples (a checksum proves no intent: an edited file can carry a valid
    one), before anything is loaded or written. Raises CheckpointError naming the entry."""
    progress, history = state.get("progress"), state.get("history")
    if not isinstance(progress, dict) or progress.keys() != _PROGRESS.keys():
        raise CheckpointError(f"{source}: progress must hold {', '.join(_PROGRESS)}")
    for key, (means, ok) in _PROGRESS.items():
        if not ok(progress[key]):
            raise CheckpointError(
                f"{source}: progress.{key} must be {means}, got {progress[key]!r}"
            )
    _check_perm(progress, n_train, source)
    if not isinstance(history, list) or len(history) != progress["epoch"]:
        raise CheckpointError(f"{source}: history must be a list of one row per epoch finished")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not all(_cell(v) for v in row.values()):
            raise CheckpointError(f"{source}: history[{i}] must map names to numbers or text")
    if progress["best_epoch"] > progress["epoch"]:
        raise CheckpointError(f"{source}: progress.best_epoch is after progress.epoch")


def _check_perm(progress: Mapping[str, Any], n_train: int, source: str) -> None:
    """The epoch's permutation: one of 0..n_train-1 when a step of the epoch is done."""
    perm = progress["perm"]
    if perm is None:
        if progress["step"]:
            raise CheckpointError(f"{source}: progress.step is {progress['step']} without a perm")
        return
    if perm.dtype.kind not in "iu" or perm.shape != (n_train,):
        raise CheckpointError(
            f"{source}: progress.perm must be {n_train} integer indices, got {perm.dtype} "
            f"{perm.shape}"
        )
    if not np.array_equal(np.sort(perm), np.arange(n_train)):
        raise CheckpointError(
            f"{source}: progress.perm is not a permutation of the {n_train} training samples"
        )


def _cell(value: Any) -> bool:
    """A history entry: a JSON scalar, or a list of texts (an epoch's warnings)."""
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return value is None or isinstance(value, bool | int | float | str)
