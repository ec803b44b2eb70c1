"""Run folders: the resolved config, metrics, checkpoints and summary a training run leaves.

    runs/mlp/  config.yaml  metrics.jsonl  metrics.csv  summary.json  .lock
               checkpoints/last.npz  checkpoints/best.npz

Every file is written atomically (a temporary file, then `os.replace`), so a crash never
leaves a torn file; checkpoints are also fsynced. A training process holds `.lock` (an empty
file, flock'ed), so a second one on the same folder is refused instead of interleaving its
checkpoints with the first's or deleting its temporary files.
"""

import csv
import fcntl
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from data import Splits, Standardizer
from models.build import Experiment, prepare_inputs
from models.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    clean_temp_files,
    load_checkpoint,
    save_checkpoint,
)
from models.trainer import COLUMNS, Pair, State, Trainer

# Config keys a resumed run may change: they alter when training stops or saves, never the
# state it resumes from. `train.epochs` is refused with a cosine schedule, whose curve uses it.
SAFE_TO_CHANGE = (
    "train.epochs",
    "train.early_stopping.patience",
    "train.checkpoint_every_epochs",
    "train.checkpoint_every_steps",
)
METRIC_COLUMNS = (*COLUMNS, "seconds")
CHECKPOINT_KINDS = ("best", "last")
LOCK_FILE = ".lock"


class RunInUseError(ValueError):
    """Another live process holds the run folder's lock."""


class Run:
    """A run folder: paths of its files and atomic writers for each."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock: IO[bytes] | None = None

    def lock(self) -> "Run":
        """Hold the folder's lock until `unlock()` or until this process ends, however it ends
        (the kernel releases a flock even after SIGKILL). Raises RunInUseError while another
        process holds it. Holding it already is fine."""
        if self._lock is not None:
            return self
        handle = open(self.folder / LOCK_FILE, "ab")  # noqa: SIM115 (held open: it is the lock)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunInUseError(
                f"{self.folder}: another process is training in this run folder; "
                "wait for it to end (or stop it), then resume"
            ) from None
        self._lock = handle
        return self

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    @classmethod
    def create(cls, base: Path) -> "Run":
        """A new run folder at `base`, or `base-2`, `base-3`, ..., locked: an earlier run is
        never overwritten (an existing empty folder counts as free)."""
        base = Path(base)
        base.parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, 10_000):
            folder = base if i == 1 else base.with_name(f"{base.name}-{i}")
            try:
                folder.mkdir()
            except FileExistsError:
                if not folder.is_dir() or any(folder.iterdir()):
                    continue
            (folder / "checkpoints").mkdir()
            return cls(folder).lock()
        raise ValueError(f"{base}: no free run folder name up to {base.name}-9999")

    @classmethod
    def open(cls, folder: Path) -> "Run":
        """An existing run folder (for resuming or evaluating)."""
        run = cls(folder)
        if not run.folder.is_dir():
            raise ValueError(f"{folder}: no such run folder")
        if not run.checkpoint("last").is_file():
            raise ValueError(f"{folder}: not a run folder (no checkpoints/last.npz)")
        return run

    @property
    def config_path(self) -> Path:
        return self.folder / "config.yaml"

    def checkpoint(self, kind: str) -> Path:
        if kind not in CHECKPOINT_KINDS:
            raise ValueError(f"checkpoint must be one of {list(CHECKPOINT_KINDS)}, got {kind!r}")
        return self.folder / "checkpoints" / f"{kind}.npz"

    def load(self, kind: str) -> Checkpoint:
        path = self.checkpoint(kind)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint in run {self.folder}")
        return load_checkpoint(path)

    def clean(self) -> list[Path]:
        """Remove temporary files an earlier crash left behind."""
        return clean_temp_files(self.folder) + clean_temp_files(self.folder / "checkpoints")

    # ---- writing --------------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        _write_text(self.config_path, text, fsync=True)

    def write_metrics(self, history: Sequence[Mapping[str, Any]]) -> None:
        """metrics.jsonl (one JSON object per epoch) and metrics.csv, rewritten whole."""
        lines = "".join(json.dumps(row) + "\n" for row in history)
        _write_text(self.folder / "metrics.jsonl", lines, fsync=False)
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(METRIC_COLUMNS)
        for row in history:
            writer.writerow(["" if row.get(k) is None else row[k] for k in METRIC_COLUMNS])
        _write_text(self.folder / "metrics.csv", table.getvalue(), fsync=False)

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        _write_text(self.folder / "summary.json", json.dumps(summary, indent=2) + "\n", fsync=True)

    def save(
        self, states: Mapping[str, State], *, config: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> None:
        """Write each {kind: state} ("last", "best") with `extra` (standardizer, data
        fingerprint) added; kinds sharing one state object are written once and linked."""
        done: list[State] = []
        for kind, state in states.items():
            if any(state is other for other in done):
                continue
            copies = [self.checkpoint(k) for k, s in states.items() if s is state and k != kind]
            save_checkpoint(self.checkpoint(kind), {**state, **extra}, config=config, copies=copies)
            done.append(state)


def _write_text(path: Path, text: str, *, fsync: bool) -> None:
    atomic_write(path, lambda f: f.write(text.encode()), fsync=fsync)


# ---- resuming -------------------------------------------------------------------------------


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


def summarize(
    trainer: Trainer, splits: Mapping[str, tuple[np.ndarray, np.ndarray]], *, run: Path
) -> dict[str, Any]:
    """summary.json: the final model's metrics on each split (test included), the best and
    the last epoch's metrics, and which checkpoint holds the final model."""
    p = trainer.progress
    history = p.history
    best_row = history[p.best_epoch - 1] if p.best_epoch else None
    final = {name: trainer.evaluate(X, y) for name, (X, y) in splits.items() if len(X)}
    return {
        "run": str(run),
        "epochs": p.epoch,
        "steps": p.global_step,
        "stopped_early": p.stopped,
        "best_epoch": p.best_epoch,
        "final_checkpoint": "best" if trainer.best_weights is not None else "last",
        "final": final,
        "best": best_row,
        "last": history[-1] if history else None,
    }


def final_line(summary: Mapping[str, Any]) -> str:
    """The one line that ends a run: accuracies of the final model and where the run is."""
    parts = [
        f"{name} acc {m['acc']:.4f}" if m["acc"] is not None else f"{name} loss {m['loss']:.4g}"
        for name, m in summary["final"].items()
    ]
    return f"final: {', '.join(parts)} (epoch {summary['epochs']}); run saved in {summary['run']}"


def relative(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, for messages."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---- evaluating -----------------------------------------------------------------------------


def pick_split(splits: Splits, name: str | None) -> tuple[str, Pair]:
    """The split called `name`, by default test if it has samples, else val, else train."""
    if name is None:
        name = next(n for n in ("test", "val", "train") if len(getattr(splits, n)[0]))
    X, y = getattr(splits, name)
    if len(X) == 0:
        raise ValueError(f"the run has no {name} split (data.{name}_fraction is 0)")
    return name, (X, y)


def inputs_for(
    experiment: Experiment, checkpoint: Checkpoint, X: np.ndarray, y: np.ndarray, source: Path
) -> Pair:
    """Raw samples from a file prepared as the run's data was: checked against the model's
    input size and classes, standardized with the checkpoint's statistics, cast, reshaped."""
    n_features, n_classes = math.prod(experiment.input_shape), experiment.n_classes
    if X.shape[1] != n_features:
        raise ValueError(
            f"{source}: {X.shape[1]} features per sample, but the model takes {n_features}"
        )
    if n_classes is not None and (y >= n_classes).any():
        row = int(np.flatnonzero(y >= n_classes)[0])
        raise ValueError(
            f"{source}: sample {row} has label {int(y[row])}, but the model knows "
            f"{n_classes} classes (0..{n_classes - 1})"
        )
    saved = checkpoint.state.get("standardizer")
    standardizer = None if saved is None else Standardizer(saved["mean"], saved["std"])
    dtype = experiment.config["dtype"]
    return prepare_inputs(X, standardizer, dtype, experiment.input_shape), y
