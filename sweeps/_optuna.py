"""Everything that touches Optuna's internals, in one module (pyproject pins optuna below the
next major version): storages that refuse trials nobody queued, and a journal file with
heartbeats, which Optuna implements for databases only.

Private parts used here: `optuna.storages._heartbeat.BaseHeartbeat` (the interface
`Study.optimize` drives), `RDBStorage._create_new_trial`, `FrozenTrial._trial_id`, and the
method names `_get_stale_trial_ids`, `get_heartbeat_interval`,
`get_heartbeat_stale_trial_callback` that `optuna.storages.fail_stale_trials` calls.
"""

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import optuna
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

BEAT = "gategraph_heartbeat"  # trial system attr: the journal's heartbeat (seconds since epoch)


class NothingQueuedError(RuntimeError):
    """Every trial of the sweep's budget has been taken: a worker asked for one more."""


@contextmanager
def experimental_quiet() -> Iterator[None]:
    """Optuna flags heartbeat retries as experimental (they are documented and stable)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


def retry_once() -> Callable:
    """The stale-trial callback: a trial whose worker died is enqueued again, once."""
    with experimental_quiet():
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)


class QueuedRDB(RDBStorage):
    """Optuna's RDBStorage, refusing to create a trial nobody queued."""

    def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
        if template_trial is None:  # Study.ask found no waiting trial
            raise NothingQueuedError("every trial of the sweep has been taken")
        return super()._create_new_trial(study_id, template_trial)


class Journal(JournalStorage, BaseHeartbeat):
    """A journal file whose log lines are only written once they will be accepted:
    Optuna skips the rest of a batch of lines when one of this process's is refused, so
    creating a study and finishing a trial check first, under a lock of their own."""

    def __init__(self, path: str, interval: int, grace: int, retry: Callable) -> None:
        super().__init__(JournalFileBackend(path, lock_obj=_file_lock(f"{path}.lock")))
        self._guard = _file_lock(f"{path}.guard")
        self._interval, self._grace, self._retry = interval, grace, retry

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        self._guard.acquire()
        try:
            yield
        finally:
            self._guard.release()

    def create_new_study(self, directions: Any, study_name: str | None = None) -> int:
        with self._guarded():
            if study_name in {s.study_name for s in self.get_all_studies()}:
                raise DuplicatedStudyError(f"study {study_name!r} already exists")
            return super().create_new_study(directions, study_name)

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        if template_trial is None:
            raise NothingQueuedError("every trial of the sweep has been taken")
        return super().create_new_trial(study_id, template_trial)

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        if not state.is_finished():
            return super().set_trial_state_values(trial_id, state, values)
        with self._guarded():
            trial = self.get_trial(trial_id)
            if trial.state.is_finished():
                raise UpdateFinishedTrialError(f"trial {trial.number} is already finished")
            return super().set_trial_state_values(trial_id, state, values)

    def record_heartbeat(self, trial_id: int) -> None:
        if not self.get_trial(trial_id).state.is_finished():
            self.set_trial_system_attr(trial_id, BEAT, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        now = time.time()
        return [t._trial_id for t in running if now - _last_beat(t) > self._grace]

    def get_heartbeat_interval(self) -> int:
        return self._interval

    def get_heartbeat_stale_trial_callback(self) -> Callable:
        return self._retry


class _FileLock:
    """An exclusive lock on a file (flock): the system releases it when its holder dies, so a
    worker killed while writing the journal never blocks the others."""

    def __init__(self, path: str) -> None:
        self._path, self._fd, self._threads = path, -1, threading.Lock()

    def acquire(self) -> bool:
        self._threads.acquire()  # flock would let two threads of one process in at once
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        os.close(fd)  # closing the file releases the lock
        self._threads.release()


def _file_lock(path: str) -> Any:
    """A _FileLock, or where there is no flock (Windows), Optuna's lock file, which others
    break 30 s after a holder died."""
    if fcntl is None:
        return JournalFileOpenLock(path.removesuffix(".lock"))
    return _FileLock(path)


def _last_beat(trial: "optuna.trial.FrozenTrial") -> float:
    """When a running trial last showed life: its heartbeat, or its start (a retry inherits
    the heartbeat of the trial it repeats, which is old by then)."""
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return max(float(trial.system_attrs.get(BEAT, 0.0)), started)
