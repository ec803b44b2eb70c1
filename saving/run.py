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
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from gategraph.saving.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    clean_temp_files,
    load_checkpoint,
    save_checkpoint,
)

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

    def write_metrics(self, history: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
        """metrics.jsonl (one JSON object per epoch) and metrics.csv with `columns`, rewritten
        whole."""
        lines = "".join(json.dumps(row) + "\n" for row in history)
        _write_text(self.folder / "metrics.jsonl", lines, fsync=False)
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(columns)
        for row in history:
            writer.writerow(["" if row.get(k) is None else row[k] for k in columns])
        _write_text(self.folder / "metrics.csv", table.getvalue(), fsync=False)

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        _write_text(self.folder / "summary.json", json.dumps(summary, indent=2) + "\n", fsync=True)

    def save(
        self,
        states: Mapping[str, Mapping[str, Any]],
        *,
        config: Mapping[str, Any],
        extra: Mapping[str, Any],
    ) -> None:
        """Write each {kind: state} ("last", "best") with `extra` (standardizer, data
        fingerprint) added; kinds sharing one state object are written once and linked."""
        done: list[Mapping[str, Any]] = []
        for kind, state in states.items():
            if any(state is other for other in done):
                continue
            copies = [self.checkpoint(k) for k, s in states.items() if s is state and k != kind]
            save_checkpoint(self.checkpoint(kind), {**state, **extra}, config=config, copies=copies)
            done.append(state)


def _write_text(path: Path, text: str, *, fsync: bool) -> None:
    atomic_write(path, lambda f: f.write(text.encode()), fsync=fsync)


def relative(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, for messages."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
