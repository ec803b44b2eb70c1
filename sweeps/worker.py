"""Workers: processes that take the waiting trials of a sweep's study and train each through
an experiments Session, in a run folder inside the sweep folder (so a trial's folder resumes
with `train.py --resume`).

Workers send heartbeats; a trial whose worker died is failed and enqueued again, once, and
the retry resumes the dead trial's run folder from its last checkpoint. A stop request saves
the current trial's checkpoint and queues it again.
"""

import math
import os
import socket
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from gategraph.experiments.session import Session
from gategraph.saving.run import Run, relative
from gategraph.sweeps._optuna import BEAT, NothingQueuedError, experimental_quiet
from gategraph.sweeps.spec import Sweep
from gategraph.sweeps.storage import connect, open_study
from gategraph.training.guard import NonFiniteError


class TrialFailedError(RuntimeError):
    """A trial that could not train (its config, its data, or a stop request): marked failed."""


def seed_key(index: int) -> tuple[int, int, int]:
    """Tells apart the samplers of every worker process, on this machine and on others (two
    workers with one seed would draw the same random parameters, and so would a sweep that is
    continued later). So the sampler's seed does not make a sweep reproducible trial by trial;
    with several workers nothing could, as which worker takes which trial depends on timing."""
    return zlib.crc32(socket.gethostname().encode()), os.getpid(), index


def _silent(message: str) -> None:
    del message


@dataclass
class Worker:
    """Takes waiting trials of the sweep's study and trains each in `folder/trial-NNNN`, until
    none is waiting and none runs elsewhere (a worker that died may leave one to retry).

    `say` receives one line per trial; `poll` is how many seconds an idle worker waits before
    looking again. `request_stop()` (signal-safe) ends the current trial after its step: its
    checkpoint is saved, it is queued again to resume later, and `run` returns.
    """

    sweep: Sweep
    url: str
    folder: Path
    index: int = 0
    say: Callable[[str], None] = _silent
    poll: float = 1.0
    stopping: bool = False
    _session: Session | None = None

    def run(self) -> int:
        """Train trials until the sweep has none left; returns how many this worker took."""
        study, taken = self._open(), 0
        while not self.stopping:
            try:
                with experimental_quiet():
                    study.optimize(self._objective, n_trials=1, catch=(TrialFailedError,))
                taken += 1
            except NothingQueuedError:
                if not self._wait(study):
                    break
            except UpdateFinishedTrialError as err:  # this worker was silent past the grace
                self.say(f"a trial was given to another worker, as this one seemed dead: {err}")
                study = self._open()  # a fresh view of the storage
        return taken

    def _open(self) -> optuna.Study:
        storage = connect(self.url, self.sweep.heartbeat)
        return open_study(self.sweep, storage, seed_key=seed_key(self.index))

    def _wait(self, study: optuna.Study) -> bool:
        """Nothing is queued: while trials run elsewhere, fail those whose worker died (which
        queues them again) and wait. False when none runs: the sweep is done."""
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            return False
        with experimental_quiet():
            optuna.storages.fail_stale_trials(study)
        time.sleep(self.poll)
        return True

    def request_stop(self) -> None:
        self.stopping = True
        if self._session is not None:
            self._session.request_stop()

    def _objective(self, trial: optuna.Trial) -> float:
        frozen = _frozen(trial)
        if "fixed_params" not in frozen.system_attrs:  # in case a storage let Study.ask make one
            raise NothingQueuedError("every trial of the sweep has been taken")
        params = {d.key: d.suggest(trial) for d in self.sweep.space}
        origin = frozen.system_attrs.get("failed_trial", trial.number)  # a retry resumes it
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            session = _session(self.sweep.trial_config(params), self.folder / _name_of(origin))
            run = session.open()
        except (ValueError, TypeError, OSError) as err:  # ConfigError, DataError, ...
            raise self._failed(trial, f"cannot start: {err}") from err
        trial.set_user_attr("run", run.folder.name)
        self._session = session
        if self.stopping:  # a stop request came while the trial was being set up
            session.request_stop()
        try:
            return self._train(trial, frozen, session, params)
        finally:
            self._session = None

    def _train(
        self,
        trial: optuna.Trial,
        frozen: optuna.trial.FrozenTrial,
        session: Session,
        params: Mapping[str, Any],
    ) -> float:
        for row in session.trainer.progress.history:  # epochs a resumed run already trained
            _report(trial, row, self.sweep.metric)
        pruned: list[int] = []
        try:
            session.fit(lambda row: _report(trial, row, self.sweep.metric, pruned))
        except NonFiniteError as err:  # diverged: a bad region of the space, as a pruned trial
            trial.set_user_attr("diverged", str(err))
            self.say(f"trial {trial.number} diverged ({_params(params)}): {err}")
            raise optuna.TrialPruned(str(err)) from err
        if session.interrupted and not pruned:
            _queue_again(trial, frozen)
            raise self._failed(trial, "stopped by request; queued again to resume")
        summary = session.summarize()
        trial.set_user_attr("final", _plain_metrics(summary["final"]))
        trial.set_user_attr("epochs", summary["epochs"])
        split, kind = self.sweep.metric.split("_")
        value = summary["final"][split][kind]
        verdict = f"pruned at epoch {pruned[0]}" if pruned else f"{self.sweep.metric} {value:.4f}"
        folder = relative(session.run.folder)
        self.say(f"trial {trial.number} {verdict} ({_params(params)}) in {folder}")
        if pruned:
            raise optuna.TrialPruned(f"pruned at epoch {pruned[0]}")
        return float(value)

    def _failed(self, trial: optuna.Trial, reason: str) -> TrialFailedError:
        trial.set_user_attr("error", reason)
        self.say(f"trial {trial.number} failed: {reason}")
        return TrialFailedError(reason)


def _session(config: dict[str, Any], folder: Path) -> Session:
    """A trial's run of `config` in `folder`, resumed from its last checkpoint when it has one
    (the retry of a trial whose worker died or was stopped), otherwise new (in `folder-2` if
    `folder` holds something that cannot be resumed)."""
    if Run(folder).checkpoint("last").is_file():
        try:
            return Session.resume(folder, config, quiet=True)
        except ValueError:  # CheckpointError too: start afresh rather than fail the trial
            pass
    return Session.start(config, folder, quiet=True)


def _frozen(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The stored record of a running trial (its system attrs: queued params, retry of)."""
    return next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)


def _name_of(number: int) -> str:
    return f"trial-{number:04d}"


def _report(
    trial: optuna.Trial, row: Mapping[str, Any], metric: str, pruned: list[int] | None = None
) -> bool:
    """Report the epoch's metric; True (and the epoch noted in `pruned`) when the pruner says
    stop. Without `pruned`, a resumed epoch is only reported."""
    value = row[metric]
    if value is None or not math.isfinite(value):
        return False
    trial.report(float(value), row["epoch"])
    if pruned is None or not trial.should_prune():
        return False
    pruned.append(row["epoch"])
    return True


def _queue_again(trial: optuna.Trial, frozen: optuna.trial.FrozenTrial) -> None:
    """A waiting copy of `trial` that resumes its run folder: it does not count as a retry."""
    system_attrs = {
        **frozen.system_attrs,
        "failed_trial": frozen.system_attrs.get("failed_trial", trial.number),
    }
    system_attrs.pop(BEAT, None)
    trial.study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=trial.user_attrs,
            system_attrs=system_attrs,
        )
    )


def _plain_metrics(final: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    return {
        split: {k: None if v is None else float(v) for k, v in metrics.items()}
        for split, metrics in final.items()
    }


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
