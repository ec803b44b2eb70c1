"""Run folders: the resolved config, metrics, checkpoints and summary a training run leaves.

    runs/mlp/  config.yaml  metrics.jsonl  metrics.csv  summary.json  .lock
               checkpoints/last.npz  checkpoints/best.npz

Every file is written atomically (a temporary file, then `os.replace`), so a crash never
leaves a torn file; checkpoints are also fsynced. A training process holds `.lock` (an empty
file, flock'ed), so a second one on the same folder is refused instead of interleaving its
checkpoints with the first's or deleting its temporary files.
"""

import csv
import errno
import fcntl
import io
import json
import os
import secrets
import shutil
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from gategraph.saving.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    clean_temp_files,
    fsync_folder,
    load_checkpoint,
    not_a_file,
    save_checkpoint,
)

CHECKPOINT_KINDS = ("best", "last")
LOCK_FILE = ".lock"
PARTIAL_SUFFIX = ".partial"  # a run folder being created: `.NAME.HOST.PID.RANDOM.partial`
_HOST = socket.gethostname().replace(".", "_")[:32]


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
    def create(cls, base: Path, fill: Callable[["Run"], None]) -> "Run":
        """A new run folder at `base`, or `base-2`, `base-3`, ..., locked, holding what
        `fill(run)` wrote into it (the config and a first checkpoint, so it can be resumed).

        The folder is filled under a temporary name beside it (`.NAME.HOST.PID.RANDOM.partial`) and
        then renamed in one atomic step: it appears complete or not at all, and of processes
        claiming one name at the same instant exactly one gets it. An earlier run is never
        overwritten (an existing empty folder counts as free). A failure (a full disk, an
        exception in `fill`) removes the temporary folder; one that a killed process left
        behind is removed by the next `create` beside it."""
        base = Path(base)
        if base.name in ("", ".", ".."):
            raise ValueError(f"{base}: a run folder needs a name of its own, like runs/mlp")
        base.parent.mkdir(parents=True, exist_ok=True)
        _remove_partial_folders(base)
        draft = f"{_partial_prefix(base)}{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
        run = cls(base.with_name(draft))
        try:
            run.folder.mkdir()
            (run.folder / "checkpoints").mkdir()
            run.lock()
            fill(run)
            run.folder = _claim(run.folder, base)
        except BaseException:
            run.unlock()
            shutil.rmtree(run.folder, ignore_errors=True)
            raise
        fsync_folder(base.parent)
        return run

    @classmethod
    def open(cls, folder: Path) -> "Run":
        """An existing run folder (for resuming or evaluating)."""
        run = cls(folder)
        if not run.folder.is_dir():
            raise ValueError(f"{folder}: no such run folder")
        why = not_a_file(run.checkpoint("last"))
        if why == "no such file":
            raise ValueError(f"{folder}: not a run folder (no checkpoints/last.npz)")
        if why is not None:
            raise ValueError(f"{run.checkpoint('last')}: {why}; a checkpoint is a regular file")
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
        if not_a_file(path) == "no such file":
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


def _claim(draft: Path, base: Path) -> Path:
    """Rename the folder `draft` to `base`, or `base-2`, ...: the first name that is free or
    an empty folder (rename refuses a non-empty folder and a file, atomically)."""
    for i in range(1, 10_000):
        folder = base if i == 1 else base.with_name(f"{base.name}-{i}")
        try:
            os.rename(draft, folder)
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                continue
            raise
        return folder
    raise ValueError(f"{base}: no free run folder name up to {base.name}-9999")


def _remove_partial_folders(base: Path) -> None:
    """Remove the temporary folders of `base` that processes of this machine left when they
    were killed (their process is gone); a live process's one is left alone."""
    prefix = _partial_prefix(base)
    for folder in base.parent.iterdir():
        name = folder.name
        if not (name.startswith(prefix) and name.endswith(PARTIAL_SUFFIX)):
            continue
        pid = name[len(prefix) :].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _partial_prefix(base: Path) -> str:
    """`.NAME.HOST.` of `base`'s temporary folders, NAME cut to 100 characters so that the
    whole name stays within the 255 a file system allows wherever `base`'s own name fits."""
    return f".{base.name[:100]}.{_HOST}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _write_text(path: Path, text: str, *, fsync: bool) -> None:
    atomic_write(path, lambda f: f.write(text.encode()), fsync=fsync)


def relative(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, for messages."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
