"""Where a sweep's study lives, and creating or joining it.

The study lives in a journal file in the sweep folder (one machine), or in a database that
workers on many machines share (`--storage postgresql://user@host/db`). When the study is
created, one waiting trial is enqueued per trial of the budget (each grid point, for a grid),
and workers only ever take waiting trials: however many run at once, the sweep runs exactly
its budget and never a grid point twice.
"""

import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy

from gategraph.experiments.config import ConfigError
from gategraph.experiments.resume import config_changes
from gategraph.sweeps._optuna import Journal, QueuedRDB, experimental_quiet, retry_once
from gategraph.sweeps.spec import HEARTBEAT, Sweep

JOURNAL = "study.journal"  # the study of a local sweep, inside its folder
INFO = "sweep.json"  # in the sweep folder: the study's name and where it is stored
RECORD = "gategraph_sweep"  # study user attr: the sweep's record, set once every trial is queued
JOIN_TIMEOUT = 120.0  # seconds a joining worker waits for the creator to finish queuing
EXAMPLE_URLS = "postgresql://user@host/db or sqlite:///sweep.db"


def is_database(url: str) -> bool:
    """A database URL (postgresql://..., sqlite:///...) rather than a journal file path."""
    return "://" in url


def connect(url: str, heartbeat: Mapping[str, int]) -> optuna.storages.BaseStorage:
    """The storage at `url`: a database (Optuna's RDBStorage) or a journal file. Both beat
    every `heartbeat["interval"]` seconds while a trial runs, fail a trial silent for
    `grace_period` seconds, and enqueue it again, once; neither creates a trial that was not
    queued (asking for one raises NothingQueuedError). Raises ValueError, in one line naming
    the URL (its password left out), for a URL no database answers."""
    interval, grace = heartbeat["interval"], heartbeat["grace_period"]
    if not is_database(url):
        return Journal(url, interval, grace, retry_once())
    options = {"heartbeat_interval": interval, "grace_period": grace}
    return _database(url, heartbeat_stale_trial_callback=retry_once(), **options)


def database_url(text: str) -> str:
    """`text`, which must be a database URL SQLAlchemy can use (a dialect it knows, its
    driver installed). Raises ValueError naming the URL and what was expected."""
    shown = without_password(text)
    try:
        sqlalchemy.engine.make_url(_driven(text)).get_dialect().import_dbapi()
    except sqlalchemy.exc.NoSuchModuleError:
        scheme = text.split("://", 1)[0]
        reason = f"no database kind {scheme!r}; expected a URL like {EXAMPLE_URLS}"
        raise ValueError(f"cannot use {shown}: {reason}") from None
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"cannot use {shown}: expected a URL like {EXAMPLE_URLS}") from None
    except ImportError as err:
        raise ValueError(f"cannot use {shown}: its driver is not installed ({err})") from None
    return text


def _driven(url: str) -> str:
    """`url` with the PostgreSQL driver the [sweep] extra installs (psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _database(url: str, **options: Any) -> QueuedRDB:
    """A QueuedRDB at `url`. Workers that start together on a new database race to create its
    tables, and the losers see an error: they try again once the tables exist."""
    driven = _driven(database_url(url))
    for attempt in range(5):
        try:
            with experimental_quiet():
                return QueuedRDB(driven, engine_kwargs={"pool_pre_ping": True}, **options)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
        except sqlalchemy.exc.OperationalError as err:
            reason = str(err.orig or err).strip().splitlines()[0]
            raise ValueError(f"cannot use {without_password(url)}: {reason}") from None
    raise AssertionError("unreachable")


def without_password(url: str) -> str:
    """`url` with its password (user:password@host) left out."""
    return re.sub(r"^(\w[\w+.-]*://[^/:@]*):[^/@]*@", r"\1@", url)


def open_study(
    sweep: Sweep, storage: optuna.storages.BaseStorage, *, seed_key: Sequence[int] = ()
) -> optuna.Study:
    """The sweep's study in `storage`: created with every trial of its budget queued, or, if
    it exists, joined (after checking that it is the same sweep). `seed_key` tells workers'
    samplers apart, so that two workers never draw the same random parameters."""
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


def _check_same_sweep(study: optuna.Study, sweep: Sweep) -> None:
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


def _sampler(sweep: Sweep, seed_key: Sequence[int]) -> optuna.samplers.BaseSampler:
    options = sweep.sampler
    entropy = [options.get("seed", 0), *seed_key]
    seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    if options["type"] == "tpe":
        startup = options["startup_trials"]
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)  # a grid point's params are all enqueued


def _pruner(sweep: Sweep) -> optuna.pruners.BasePruner:
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


def write_info(folder: Path, sweep: Sweep, url: str) -> None:
    """sweep.json: what `--report` needs to find the study (a password in `url` is left out;
    give it through PGPASSWORD or ~/.pgpass, or to --report with --storage)."""
    folder.mkdir(parents=True, exist_ok=True)
    local = not is_database(url) and Path(url).resolve().parent == folder.resolve()
    stored = Path(url).name if local else without_password(url)
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


def load_study(name: str, url: str) -> optuna.Study:
    """A sweep's study, to read (the leaderboard)."""
    try:
        return optuna.load_study(study_name=name, storage=connect(url, HEARTBEAT))
    except KeyError:
        raise ValueError(f"no study {name!r} in {without_password(url)}") from None
