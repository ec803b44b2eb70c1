"""Resuming a run: which config changes a resumed run may make, and the data's fingerprint."""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

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
        listed = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in unsafe.items())
        raise ValueError(
            f"cannot resume {run} with a changed config: {listed}; only "
            f"{', '.join(sorted(safe))} may change (start a new run for anything else)"
        )


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the training arrays, to refuse resuming on data that changed."""
    digest = hashlib.sha256()
    for array in (X, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.data)
    return digest.hexdigest()
