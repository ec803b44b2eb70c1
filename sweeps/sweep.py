"""Hyper-parameter sweeps on Optuna: the sweep config, its search space, the trials, the workers.

A sweep config names a base training config and a search space over its dotted keys:

    base: mlp.yaml                                  # relative to the sweep file
    metric: val_acc                                 # maximized; val_loss would be minimized
    trials: 40
    sampler: {type: tpe, seed: 0}                   # tpe, random, grid
    pruner: {type: median, warmup_epochs: 10}       # median, hyperband, none
    set: {train.epochs: 100}                        # the same for every trial
    space:
      optim.lr: {log_uniform: [1e-3, 1.0]}
      model.layers[0].out_dim: {choice: [50, 100, 200]}

A trial's config is the base with its parameters applied as `--set` overrides, so it is
validated by the same code as any training config, and each trial trains in an ordinary run
folder inside the sweep folder. The study lives in a journal file in the sweep folder, or in a
database that workers on many machines share. When the study is created, one waiting trial is
enqueued per trial of the budget (each grid point, for a grid), and workers only ever take
waiting trials: however many run at once, the sweep runs exactly its budget and never a grid
point twice. Workers send heartbeats; a trial whose worker died is failed and enqueued again,
once, and the retry resumes the dead trial's run folder from its last checkpoint.

Optuna is imported only when a study is opened: validating a sweep config does not need it.
"""

import difflib
import itertools
import json
import math
import os
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gategraph.experiments.config import (
    ConfigError,
    Key,
    apply_overrides,
    load_config,
    parse_yaml,
    render_key,
)
from gategraph.experiments.resume import config_changes
from gategraph.experiments.session import Session
from gategraph.saving.run import Run, relative
from gategraph.training.trainer import MONITORS, NonFiniteError

if TYPE_CHECKING:
    import optuna

SAMPLERS: dict[str, dict[str, int]] = {  # type -> its options and their defaults
    "tpe": {"seed": 0, "startup_trials": 10},
    "random": {"seed": 0},
    "grid": {},
}
PRUNERS: dict[str, dict[str, int]] = {
    "median": {"startup_trials": 5, "warmup_epochs": 10},
    "hyperband": {"min_epochs": 1, "reduction_factor": 3},
    "none": {},
}
HEARTBEAT = {"interval": 10, "grace_period": 60}  # seconds
DIMENSIONS = ("choice", "uniform", "log_uniform", "int", "log_int")
DIRECTIONS = {"min": "minimize", "max": "maximize"}
TOP_KEYS = ("base", "name", "metric", "direction", "trials", "sampler", "pruner", "heartbeat")
TOP_KEYS += ("set", "space")
MAX_TRIALS = 100_000
JOURNAL = "study.journal"  # the study of a local sweep, inside its folder
_KEY_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*")


# ---- the sweep config -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One searched key: `choice` of `values`, or a range `values = (low, high)` sampled
    uniformly (`uniform`, `int`) or uniformly in log space (`log_uniform`, `log_int`)."""

    key: str  # a dotted key of the base config, like model.layers[0].out_dim
    kind: str
    values: tuple[Any, ...]

    def suggest(self, trial: "optuna.Trial") -> Any:
        """This dimension's value for `trial`, drawn by the study's sampler (or enqueued)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        log = self.kind.startswith("log_")
        if self.kind.endswith("int"):
            return trial.suggest_int(self.key, low, high, log=log)
        return trial.suggest_float(self.key, low, high, log=log)

    def spec(self) -> dict[str, list[Any]]:
        """The dimension as the sweep file spells it: {log_uniform: [0.001, 1.0]}."""
        return {self.kind: list(self.values)}


@dataclass(frozen=True)
class Sweep:
    """A validated sweep config. `base` is the resolved base config with `set` applied."""

    path: Path
    name: str
    base: dict[str, Any]
    space: tuple[Dimension, ...]
    metric: str
    direction: str  # "maximize" or "minimize"
    trials: int  # the budget: trials that run to the end or are pruned
    sampler: dict[str, Any]  # {type, **options}
    pruner: dict[str, Any]
    heartbeat: dict[str, int] = field(default_factory=lambda: dict(HEARTBEAT))

    def trial_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The base config with `params` ({dotted key: value}) set, validated and resolved."""
        return apply_overrides(self.base, [_override(k, v) for k, v in params.items()])

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the choices, the last dimension varying fastest."""
        keys = [d.key for d in self.space]
        choices = [d.values for d in self.space]
        return [dict(zip(keys, p, strict=True)) for p in itertools.product(*choices)]

    def record(self) -> dict[str, Any]:
        """What makes two sweeps the same study (stored in it; compared when joining)."""
        return {
            "base": self.base,
            "space": {d.key: d.spec() for d in self.space},
            "metric": self.metric,
            "direction": self.direction,
            "trials": self.trials,
            "sampler": self.sampler,
            "pruner": self.pruner,
        }


def load_sweep(path: str | Path, *, trials: int | None = None) -> Sweep:
    """The sweep config in file `path`, validated (its base config and every dimension's
    values too); `trials` replaces its `trials`. Raises ConfigError: `file:line: key: reason`,
    or the base config's own `file:line: ...` for a problem in the base."""
    path, where = Path(path), str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise ConfigError(f"cannot read the sweep config: {reason}", where=where) from None
    raw, lines = parse_yaml(text, where)
    try:
        return _sweep(raw, path, trials)
    except ConfigError as err:
        raise _locate(err, where, lines) from None


def _locate(err: ConfigError, where: str, lines: Mapping[Key, int]) -> ConfigError:
    """`err` prefixed with the line of its key (or of the closest key above it) in `where`."""
    if err.where:
        return err
    key = err.key
    while key and key not in lines:
        key = key[:-1]
    return ConfigError(err.reason, err.key, f"{where}:{lines.get(key, 1)}")


def _sweep(raw: Any, path: Path, trials: int | None) -> Sweep:
    spec = _top(raw)
    metric = _choice(spec.get("metric", "val_acc"), ("metric",), list(MONITORS))
    direction = spec.get("direction", DIRECTIONS[MONITORS[metric]])
    _choice(direction, ("direction",), list(DIRECTIONS.values()))
    base = _base(spec, path)
    if metric.startswith("val_") and not base["data"]["val_fraction"]:
        reason = f"{metric} needs a validation split: set data.val_fraction > 0 in the base config"
        raise ConfigError(reason, ("metric",))
    sampler = _block(spec.get("sampler", "tpe"), ("sampler",), SAMPLERS)
    space = _space(spec.get("space"), base, grid=sampler["type"] == "grid")
    return Sweep(
        path=path,
        name=_name(spec.get("name", path.stem)),
        base=base,
        space=space,
        metric=metric,
        direction=direction,
        trials=_trials(spec, trials, space, grid=sampler["type"] == "grid"),
        sampler=sampler,
        pruner=_block(spec.get("pruner", "median"), ("pruner",), PRUNERS),
        heartbeat=_heartbeat(spec.get("heartbeat", {})),
    )


def _top(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        got = "nothing" if raw is None else _show(raw)
        raise ConfigError(f"a sweep config is a mapping with keys {', '.join(TOP_KEYS)}, got {got}")
    if "base" not in raw and "model" in raw:
        raise ConfigError(
            "this is a training config; a sweep config names one (base: mlp.yaml) and "
            "searches its keys (space: ...)"
        )
    _reject_unknown(raw, TOP_KEYS, ())
    for name in ("base", "space"):
        if name not in raw:
            raise ConfigError("required key missing", (name,))
    return raw


def _reject_unknown(spec: Mapping[str, Any], allowed: Sequence[str], key: Key) -> None:
    for name in spec:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(allowed)}"
            raise ConfigError(f"unknown key; {hint}", (*key, str(name)))


def _show(value: Any) -> str:
    """A value as YAML (flow style) spells it: true, null, 'text', [1, 2], {a: 1}."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return json.dumps(value)


def _choice(value: Any, key: Key, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ConfigError(f"must be one of {', '.join(options)}, got {_show(value)}", key)
    return value


def _integer(value: Any, key: Key, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        means = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ConfigError(f"must be {means}, got {_show(value)}", key)
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[\w.-]+", value):
        raise ConfigError(
            f"must be a name of letters, digits, _ . -, got {_show(value)}", ("name",)
        )
    return value


def _base(spec: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The base config (a path relative to the sweep file) loaded with the `set` overrides;
    an error in an override points at its line in the sweep file."""
    if not isinstance(spec["base"], str) or not spec["base"]:
        raise ConfigError(
            f"must be the path of a training config, got {_show(spec['base'])}", ("base",)
        )
    settings = spec.get("set") or {}
    if not isinstance(settings, dict):
        raise ConfigError(
            f"must be a mapping of dotted keys to values, got {_show(settings)}", ("set",)
        )
    for key in settings:
        _key_path(key, ("set", key))
    overrides = {_override(k, v): k for k, v in settings.items()}
    if not (path.parent / spec["base"]).is_file():
        raise ConfigError(f"no training config at {path.parent / spec['base']}", ("base",))
    try:
        return load_config(path.parent / spec["base"], list(overrides))
    except ConfigError as err:
        item = err.where.removeprefix("--set ")
        if item in overrides:
            key, above = overrides[item], render_key(err.key)
            reason = err.reason if above in ("", key) else f"{above}: {err.reason}"
            raise ConfigError(reason, ("set", key)) from None
        raise


def _override(key: str, value: Any) -> str:
    """`--set` text for one value: JSON is YAML, and keeps 1e-05 a float and "adam" a string."""
    return f"{key}={json.dumps(value)}"


def _key_path(text: Any, key: Key) -> None:
    if not isinstance(text, str) or not _KEY_PATH.fullmatch(text):
        raise ConfigError("must be a dotted key path like optim.lr or model.layers[0].out_dim", key)


def _leaves(config: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key of `config` that holds a value (not a mapping or a list)."""
    if isinstance(config, dict):
        for name, value in config.items():
            yield from _leaves(value, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            yield from _leaves(value, f"{prefix}[{i}]")
    else:
        yield prefix


def _space(value: Any, base: Mapping[str, Any], *, grid: bool) -> tuple[Dimension, ...]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            "must map dotted keys of the base config to ranges, like "
            f"optim.lr: {{log_uniform: [1e-4, 1e-1]}}, got {_show(value)}",
            ("space",),
        )
    leaves = list(_leaves(base))
    space = []
    for key, spec in value.items():
        where = ("space", str(key))
        _key_path(key, where)
        if key not in leaves:
            raise ConfigError(_missing(key, leaves), where)
        dimension = _dimension(key, spec, where)
        if grid and dimension.kind != "choice":
            reason = f"a grid sweep takes only {{choice: [...]}} dimensions, got {dimension.kind}"
            raise ConfigError(reason, where)
        _check_values(dimension, base, where)
        space.append(dimension)
    return tuple(space)


def _missing(key: str, leaves: Sequence[str]) -> str:
    below = [leaf for leaf in leaves if leaf.startswith((f"{key}.", f"{key}["))]
    if below:
        return (
            f"is a section of the base config, not a value: search one of its keys, like {below[0]}"
        )
    close = difflib.get_close_matches(key, leaves, n=1)
    return f"the base config has no key {key}" + (f"; did you mean {close[0]}?" if close else "")


def _dimension(key: str, spec: Any, where: Key) -> Dimension:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DIMENSIONS:
        raise ConfigError(
            f"must be one of {{choice: [a, b, ...]}}, {{uniform: [low, high]}}, {{log_uniform: "
            f"[low, high]}}, {{int: [low, high]}}, {{log_int: [low, high]}}, got {_show(spec)}",
            where,
        )
    kind, values = next(iter(spec.items()))
    where = (*where, kind)
    if kind == "choice":
        return Dimension(key, kind, _choices(values, where))
    integer = kind.endswith("int")
    number = (lambda v: isinstance(v, int)) if integer else (lambda v: isinstance(v, int | float))
    if not (
        isinstance(values, list)
        and len(values) == 2
        and all(number(v) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        and values[0] < values[1]
    ):
        what = "integers" if integer else "numbers"
        raise ConfigError(
            f"must be [low, high], two {what} with low < high, got {_show(values)}", where
        )
    if kind.startswith("log_") and values[0] <= 0:
        raise ConfigError(f"a log range needs low > 0, got {_show(values)}", where)
    return Dimension(key, kind, tuple(v if integer else float(v) for v in values))


def _choices(values: Any, where: Key) -> tuple[Any, ...]:
    scalar = (type(None), bool, int, float, str)
    if not isinstance(values, list) or not values or not all(isinstance(v, scalar) for v in values):
        reason = "must be a non-empty list of values (numbers, strings, true/false, null)"
        raise ConfigError(f"{reason}, got {_show(values)}", where)
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ConfigError(f"lists {_show(value)} twice", where)
    return tuple(values)


def _check_values(dimension: Dimension, base: Mapping[str, Any], where: Key) -> None:
    """Each choice, or both ends of a range, must make a valid config (so a sweep fails here,
    naming the value, and not in its tenth trial)."""
    for value in dimension.values:
        try:
            apply_overrides(base, [_override(dimension.key, value)])
        except ConfigError as err:
            raise ConfigError(
                f"{_show(value)} does not fit the base config: {err.reason}",
                (*where, dimension.kind),
            ) from None


def _block(value: Any, key: Key, kinds: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """A sampler or pruner: `name`, or `{type: name, option: value, ...}` with its defaults."""
    spec = {"type": value} if isinstance(value, str) else value
    if not isinstance(spec, dict):
        raise ConfigError(
            f"must be one of {', '.join(kinds)} or a mapping with a type, got {_show(value)}", key
        )
    kind = _choice(spec.get("type"), (*key, "type"), list(kinds))
    options = kinds[kind]
    for name in spec:
        if name != "type" and name not in options:
            takes = ", ".join(["type", *options])
            raise ConfigError(f"unknown key; {key[0]} {kind!r} takes: {takes}", (*key, str(name)))
    resolved: dict[str, Any] = {"type": kind}
    for name, default in options.items():
        low = 0 if name == "seed" else 2 if name == "reduction_factor" else 1
        resolved[name] = _integer(spec.get(name, default), (*key, name), low)
    return resolved


def _heartbeat(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"must be a mapping like {{interval: 10, grace_period: 60}}, got {_show(value)}",
            ("heartbeat",),
        )
    _reject_unknown(value, list(HEARTBEAT), ("heartbeat",))
    beat = {k: _integer(value.get(k, d), ("heartbeat", k), 1) for k, d in HEARTBEAT.items()}
    if beat["grace_period"] <= beat["interval"]:
        raise ConfigError(
            f"must be longer than heartbeat.interval ({beat['interval']} s), or live workers "
            f"are taken for dead, got {beat['grace_period']}",
            ("heartbeat", "grace_period"),
        )
    return beat


def _trials(
    spec: Mapping[str, Any], trials: int | None, space: Sequence[Dimension], *, grid: bool
) -> int:
    """The budget: `trials` (from the command line) or the config's; a grid's is its size."""
    key, where = ("trials",), ""
    if trials is not None:
        spec, key, where = {"trials": trials}, (), f"--trials {trials}"
    if not grid and "trials" not in spec:
        raise ConfigError("required key missing; how many trials to run", key)
    value = _integer(spec.get("trials", 1), key, 1)
    if value > MAX_TRIALS:
        raise ConfigError(f"must be at most {MAX_TRIALS}, got {value}", key, where)
    points = math.prod(len(d.values) for d in space)
    if grid and spec.get("trials", points) != points:
        reason = (
            f"a grid of {points} points runs each once: leave trials out, or set it to {points}"
        )
        raise ConfigError(f"{reason}, got {value}", key, where)
    return points if grid else value


# ---- storage and study ----------------------------------------------------------------------

RECORD = "gategraph_sweep"  # study user attr: the sweep's record, set once every trial is queued
BEAT = "gategraph_heartbeat"  # trial system attr: the journal's heartbeat (seconds since epoch)
JOIN_TIMEOUT = 120.0  # seconds a joining worker waits for the creator to finish queuing


class NothingQueuedError(RuntimeError):
    """Every trial of the sweep's budget has been taken: a worker asked for one more."""


class TrialFailedError(RuntimeError):
    """A trial that could not train (its config, its data, or a stop request): marked failed."""


def is_database(url: str) -> bool:
    """A database URL (postgresql://..., sqlite:///...) rather than a journal file path."""
    return "://" in url


def connect(url: str, heartbeat: Mapping[str, int]) -> "optuna.storages.BaseStorage":
    """The storage at `url`: a database (Optuna's RDBStorage) or a journal file. Both beat
    every `heartbeat["interval"]` seconds while a trial runs, fail a trial silent for
    `grace_period` seconds, and enqueue it again, once; neither creates a trial that was not
    queued (asking for one raises NothingQueuedError)."""
    import optuna

    queued_rdb, journal = _storage_classes()
    with _experimental_quiet():
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    interval, grace = heartbeat["interval"], heartbeat["grace_period"]
    if not is_database(url):
        return journal(url, interval, grace, retry)
    options = {"heartbeat_interval": interval, "grace_period": grace}
    return _database(queued_rdb, url, heartbeat_stale_trial_callback=retry, **options)


def _database(cls: type, url: str, **options: Any) -> Any:
    """cls(url, ...), an RDBStorage. Workers that start together on a new database race to
    create its tables, and the losers see an error: they try again once the tables exist."""
    import sqlalchemy

    driven = url
    if url.startswith(("postgresql://", "postgres://")):  # the driver the [sweep] extra installs
        driven = "postgresql+psycopg://" + url.split("://", 1)[1]
    for attempt in range(5):
        try:
            with _experimental_quiet():
                return cls(driven, engine_kwargs={"pool_pre_ping": True}, **options)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
        except sqlalchemy.exc.OperationalError as err:
            reason = str(err.orig or err).strip().splitlines()[0]
            raise ValueError(f"cannot use {_without_password(url)}: {reason}") from None
    raise AssertionError("unreachable")


@contextmanager
def _experimental_quiet() -> Iterator[None]:
    """Optuna flags heartbeat retries as experimental (they are documented and stable)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


@cache
def _storage_classes() -> tuple[type, type]:
    """Optuna's RDBStorage and JournalStorage, made to refuse trials nobody queued; the
    journal also gets heartbeats, which Optuna implements for databases only."""
    from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages._heartbeat import BaseHeartbeat  # the interface Study.optimize drives
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    class QueuedRDB(RDBStorage):
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

    return QueuedRDB, Journal


class _FileLock:
    """An exclusive lock on a file (flock): the system releases it when its holder dies, so a
    worker killed while writing the journal never blocks the others."""

    def __init__(self, path: str) -> None:
        self._path, self._fd, self._threads = path, -1, threading.Lock()

    def acquire(self) -> bool:
        import fcntl

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
    try:
        import fcntl  # noqa: F401
    except ImportError:
        from optuna.storages.journal import JournalFileOpenLock

        return JournalFileOpenLock(path.removesuffix(".lock"))
    return _FileLock(path)


def _last_beat(trial: "optuna.trial.FrozenTrial") -> float:
    """When a running trial last showed life: its heartbeat, or its start (a retry inherits
    the heartbeat of the trial it repeats, which is old by then)."""
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return max(float(trial.system_attrs.get(BEAT, 0.0)), started)


def open_study(
    sweep: Sweep, storage: "optuna.storages.BaseStorage", *, seed_key: Sequence[int] = ()
) -> "optuna.Study":
    """The sweep's study in `storage`: created with every trial of its budget queued, or, if
    it exists, joined (after checking that it is the same sweep). `seed_key` tells workers'
    samplers apart, so that two workers never draw the same random parameters."""
    import optuna

    options = {
        "study_name": sweep.name,
        "storage": storage,
        "sampler": _sampler(sweep, seed_key),
        "pruner": _pruner(sweep),
    }
    try:
        study = optuna.create_study(direction=sweep.direction, **options)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**options)
        _check_same_sweep(study, sweep)
        return study
    for params in sweep.grid() if sweep.sampler["type"] == "grid" else [{}] * sweep.trials:
        study.enqueue_trial(params)  # params fixed for a grid point; drawn when run otherwise
    study.set_user_attr(RECORD, sweep.record())
    return study


def _check_same_sweep(study: "optuna.Study", sweep: Sweep) -> None:
    """Wait for the study's creator to queue its trials, then refuse a different sweep."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while RECORD not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"study {sweep.name!r} exists but its trials were never queued (its creator "
                "died?): delete the study, or give this sweep another name"
            )
        time.sleep(0.5)
    record = json.loads(json.dumps(sweep.record()))  # as storage returns it: tuples as lists
    changes = config_changes(study.user_attrs[RECORD], record)
    if changes:
        listed = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in list(changes.items())[:4])
        raise ConfigError(
            f"study {sweep.name!r} was started by a different sweep config: {listed}; "
            "give this sweep another name (or --out folder) to start a new study",
            where=str(sweep.path),
        )


def _sampler(sweep: Sweep, seed_key: Sequence[int]) -> "optuna.samplers.BaseSampler":
    import optuna

    options = sweep.sampler
    entropy = [options.get("seed", 0), *seed_key]
    seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    if options["type"] == "tpe":
        startup = options["startup_trials"]
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)  # a grid point's params are all enqueued


def _pruner(sweep: Sweep) -> "optuna.pruners.BasePruner":
    import optuna

    options = sweep.pruner
    if options["type"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=options["startup_trials"], n_warmup_steps=options["warmup_epochs"]
        )
    if options["type"] == "hyperband":
        epochs = [sweep.base["train"]["epochs"]]
        epochs += [max(d.values) for d in sweep.space if d.key == "train.epochs"]
        return optuna.pruners.HyperbandPruner(
            min_resource=options["min_epochs"],
            max_resource=max(epochs),
            reduction_factor=options["reduction_factor"],
        )
    return optuna.pruners.NopPruner()


def seed_key(index: int) -> tuple[int, int, int]:
    """Tells apart the samplers of every worker process, on this machine and on others (two
    workers with one seed would draw the same random parameters, and so would a sweep that is
    continued later). So the sampler's seed does not make a sweep reproducible trial by trial;
    with several workers nothing could, as which worker takes which trial depends on timing."""
    return zlib.crc32(socket.gethostname().encode()), os.getpid(), index


# ---- workers ------------------------------------------------------------------------------


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
        from optuna.exceptions import UpdateFinishedTrialError

        study, taken = self._open(), 0
        while not self.stopping:
            try:
                with _experimental_quiet():
                    study.optimize(self._objective, n_trials=1, catch=(TrialFailedError,))
                taken += 1
            except NothingQueuedError:
                if not self._wait(study):
                    break
            except UpdateFinishedTrialError as err:  # this worker was silent past the grace
                self.say(f"a trial was given to another worker, as this one seemed dead: {err}")
                study = self._open()  # a fresh view of the storage
        return taken

    def _open(self) -> "optuna.Study":
        storage = connect(self.url, self.sweep.heartbeat)
        return open_study(self.sweep, storage, seed_key=seed_key(self.index))

    def _wait(self, study: "optuna.Study") -> bool:
        """Nothing is queued: while trials run elsewhere, fail those whose worker died (which
        queues them again) and wait. False when none runs: the sweep is done."""
        import optuna

        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            return False
        with _experimental_quiet():
            optuna.storages.fail_stale_trials(study)
        time.sleep(self.poll)
        return True

    def request_stop(self) -> None:
        self.stopping = True
        if self._session is not None:
            self._session.request_stop()

    def _objective(self, trial: "optuna.Trial") -> float:
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
        trial: "optuna.Trial",
        frozen: "optuna.trial.FrozenTrial",
        session: Session,
        params: Mapping[str, Any],
    ) -> float:
        import optuna

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

    def _failed(self, trial: "optuna.Trial", reason: str) -> TrialFailedError:
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


def _frozen(trial: "optuna.Trial") -> "optuna.trial.FrozenTrial":
    """The stored record of a running trial (its system attrs: queued params, retry of)."""
    return next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)


def _name_of(number: int) -> str:
    return f"trial-{number:04d}"


def _report(
    trial: "optuna.Trial", row: Mapping[str, Any], metric: str, pruned: list[int] | None = None
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


def _queue_again(trial: "optuna.Trial", frozen: "optuna.trial.FrozenTrial") -> None:
    """A waiting copy of `trial` that resumes its run folder: it does not count as a retry."""
    import optuna

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


# ---- the sweep folder and its leaderboard -------------------------------------------------

INFO = "sweep.json"  # in the sweep folder: the study's name and where it is stored


def write_info(folder: Path, sweep: Sweep, url: str) -> None:
    """sweep.json: what `--report` needs to find the study (a password in `url` is left out;
    give it through PGPASSWORD or ~/.pgpass, or to --report with --storage)."""
    folder.mkdir(parents=True, exist_ok=True)
    local = not is_database(url) and Path(url).resolve().parent == folder.resolve()
    stored = Path(url).name if local else _without_password(url)
    info = {"study": sweep.name, "storage": stored, "config": str(sweep.path)}
    (folder / INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def read_info(folder: Path) -> dict[str, str]:
    """sweep.json of `folder`, the journal's path made absolute. Raises ValueError."""
    try:
        info = json.loads((Path(folder) / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: not a sweep folder (cannot read {INFO}: {err})") from None
    if not is_database(info["storage"]):
        info["storage"] = str(Path(folder) / info["storage"])
    return info


def _without_password(url: str) -> str:
    return re.sub(r"^(\w[\w+.-]*://[^/:@]*):[^/@]*@", r"\1@", url)


def load_study(name: str, url: str) -> "optuna.Study":
    """A sweep's study, to read (the leaderboard)."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=connect(url, HEARTBEAT))
    except KeyError:
        raise ValueError(f"no study {name!r} in {_without_password(url)}") from None


def leaderboard(study: "optuna.Study") -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): finished trials, best first (completed ones by their metric, ties in
    accuracy by the same split's loss, then pruned ones by the last value they reported),
    with parameters and final metrics."""
    import optuna

    record = study.user_attrs.get(RECORD, {})
    metric = record.get("metric", "value")
    keys = list(record.get("space", {}))
    done = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    trials = study.get_trials(deepcopy=False, states=done)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0

    def order(t: "optuna.trial.FrozenTrial") -> tuple[bool, float, float]:
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


def _last_value(trial: "optuna.trial.FrozenTrial") -> float | None:
    values = trial.intermediate_values
    return values[max(values)] if values else None


def _row(rank: int, trial: "optuna.trial.FrozenTrial", metric: str, keys: list[str]) -> dict:
    attrs = trial.user_attrs
    value = trial.value if trial.value is not None else _last_value(trial)
    row = {"rank": rank, "trial": trial.number, "state": trial.state.name.lower(), metric: value}
    row.update({k: trial.params.get(k) for k in keys})
    row["epochs"] = attrs.get("epochs", max(trial.intermediate_values, default=0))
    for split, metrics in attrs.get("final", {}).items():
        row.update({f"{split}_{k}": v for k, v in metrics.items()})
    row.update(run=attrs.get("run", ""), worker=attrs.get("worker", ""))
    return row


def counts(study: "optuna.Study") -> dict[str, int]:
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
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
