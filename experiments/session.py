"""Session: one resolved config trained into a run folder, for scripts/train.py and every trial
of a sweep alike (so a trial's folder resumes with `train.py --resume`)."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gategraph.experiments.build import Experiment, build
from gategraph.experiments.config import apply_overrides, dump_config, load_config
from gategraph.experiments.results import summarize
from gategraph.experiments.resume import check_resume_config, check_state, data_fingerprint
from gategraph.saving.checkpoint import CheckpointError
from gategraph.saving.run import Run, relative
from gategraph.training.callback import Callback, Loop, Row
from gategraph.training.checkpoints import Checkpoints
from gategraph.training.diagnostics import PROBE_SIZE, Diagnostics
from gategraph.training.early_stopping import EarlyStopping
from gategraph.training.progress import COLUMNS, State
from gategraph.training.trainer import Trainer

METRIC_COLUMNS = (*COLUMNS, "seconds")  # metrics.csv
AfterEpoch = Callable[[dict[str, Any]], bool]  # sees an epoch's metrics; True asks to stop


@dataclass
class Session:
    """A run of `config`, prepared: everything that can fail on user input is checked and no
    file is written yet. `open()` then writes the run folder (`fit()` opens it if needed),
    `fit()` trains and `summarize()` writes summary.json.

        config, experiment = load_experiment("configs/mlp.yaml")
        session = Session.start(config, Path("runs/mlp"), experiment=experiment)
        session.fit()
        session.summarize()["final"]  # {"train": {"loss": ..., "acc": ...}, "val": ...}

    A new run goes in `base`, or `base-2`, `base-3`, ... when that is taken; a resumed run
    continues in `base` itself.
    """

    config: dict[str, Any]
    experiment: Experiment
    trainer: Trainer
    early: EarlyStopping | None
    fingerprint: str  # sha256 of the training data, saved with every checkpoint
    base: Path
    _run: Run | None = field(default=None, repr=False)
    _resumed: Run | None = field(default=None, repr=False)  # the resumed folder, locked

    @classmethod
    def start(
        cls,
        config: Mapping[str, Any],
        base: Path,
        *,
        quiet: bool = False,
        experiment: Experiment | None = None,
    ) -> "Session":
        """A new run of the resolved `config` (`experiment`: the one it already built, as
        `load_experiment` returns it). Raises ValueError (ConfigError, DataError) or
        TypeError for a config the data or the trainer cannot take."""
        return cls._prepare(dict(config), Path(base), quiet=quiet, experiment=experiment)

    @classmethod
    def resume(
        cls,
        folder: Path,
        config: str | Path | Mapping[str, Any] | None = None,
        overrides: Sequence[str] = (),
        *,
        quiet: bool = False,
    ) -> "Session":
        """The run in `folder`, continued from its checkpoints/last.npz with `config` (a
        resolved config, a config file or, by default, the run's config.yaml) and `overrides`.
        Raises ValueError for an unreadable checkpoint (CheckpointError), a config that differs
        from the checkpoint's outside SAFE_TO_CHANGE, or training data that differs."""
        run = Run.open(folder)
        checkpoint = run.load("last")
        if isinstance(config, Mapping):
            config = apply_overrides(config, overrides)
        else:
            config = load_config(config or run.config_path, overrides)
        check_resume_config(checkpoint.config, config, run=folder)
        session = cls._prepare(config, Path(folder), quiet=quiet)
        if checkpoint.state.get("data_sha256") != session.fingerprint:
            raise ValueError(
                f"cannot resume {folder}: the training data differs from the checkpoint's "
                "(the data file or data options changed)"
            )
        source = str(checkpoint.path)
        check_state(checkpoint.state, len(session.experiment.splits.train[1]), source=source)
        try:
            session.trainer.load_state_dict(checkpoint.state, source=source)
        except (AttributeError, IndexError, OverflowError) as err:  # an edited state
            raise CheckpointError(f"{source}: cannot restore the trainer: {err}") from None
        session._resumed = run.lock()  # refused while another process trains here
        return session

    @classmethod
    def _prepare(
        cls,
        config: dict[str, Any],
        base: Path,
        *,
        quiet: bool,
        experiment: Experiment | None = None,
    ) -> "Session":
        experiment = experiment or build(config)
        trainer, early = _trainer(experiment, quiet=quiet)
        fingerprint = data_fingerprint(*experiment.splits.train)
        return cls(config, experiment, trainer, early, fingerprint, base)

    @property
    def resuming(self) -> bool:
        return self._resumed is not None

    def nothing_to_train(self) -> str | None:
        """Why a resumed run trains nothing more (it stopped early, or did its epochs), in
        one line; None when it has training left (or is not resumed)."""
        p, train = self.trainer.progress, self.config["train"]
        if not self.resuming:
            return None
        if p.stopped:
            return (
                f"{relative(self.base)} stopped early after epoch {p.epoch} (no improvement "
                f"in {p.bad_epochs} epochs); a stopped run stays stopped, even with a larger "
                "train.early_stopping.patience"
            )
        if p.epoch >= train["epochs"]:
            return (
                f"{relative(self.base)} has trained {p.epoch} epochs, train.epochs is "
                f"{train['epochs']}; give a larger train.epochs to train more"
            )
        return None

    @property
    def run(self) -> Run:
        """The run folder, once `open()` has written it."""
        if self._run is None:
            raise RuntimeError("the session's run folder is written by open() or fit() first")
        return self._run

    @property
    def interrupted(self) -> bool:
        """The last `fit` ended on a stop request (its last checkpoint saved), not finished."""
        return self.trainer.interrupted

    def open(self) -> Run:
        """Write the run folder, once: a new one with config.yaml and a step-0 checkpoint (so
        even epoch 1 can be resumed), or the resumed one, cleaned of the temporary files of an
        earlier crash, with config.yaml and the metrics files matching the checkpoint."""
        if self._run is not None:
            return self._run
        if self._resumed is not None:
            self._run = self._resumed
            self._run.clean()
            self._run.write_config(dump_config(self.config))
            self._run.write_metrics(self.trainer.progress.history, METRIC_COLUMNS)
        else:

            def fill(run: Run) -> None:
                run.write_config(dump_config(self.config))
                self._save(run, {"last": self.trainer.state_dict()})

            self._run = Run.create(self.base, fill)  # locked; appears only once resumable
        return self._run

    def fit(self, after_epoch: AfterEpoch | None = None) -> None:
        """Train until the config's epochs are done, early stopping fires or a stop is
        requested, checkpointing as `train` says. After each epoch the metrics files are
        rewritten, then `after_epoch(row)` may return True to stop (like `request_stop`).
        The folder stays locked against other processes until `fit` returns.
        Raises NonFiniteError (the last good checkpoint is kept) or OSError (the disk)."""
        run, p, train = self.open(), self.trainer.progress, self.config["train"]
        (X, y), val = self.experiment.splits.train, self.experiment.splits.val
        epochs = 0 if p.stopped else max(0, train["epochs"] - p.epoch)  # to the configured total
        callbacks = self._callbacks(run, after_epoch)
        run.lock()  # held since open() (or resume()); again after an earlier fit released it
        try:
            self.trainer.fit(
                X, y, epochs=epochs, batch_size=train["batch_size"], validation_data=val,
                callbacks=callbacks,
            )  # fmt: skip
        finally:
            run.unlock()  # the checkpoints are written: this process may resume it itself

    def _callbacks(self, run: Run, after_epoch: AfterEpoch | None) -> list[Callback]:
        """What hooks into the trainer's fit: the run's files, checkpoints as `train` says,
        early stopping and diagnostics when configured."""
        train = self.config["train"]
        every = train["checkpoint_every_epochs"], train["checkpoint_every_steps"]
        callbacks: list[Callback] = [_RunFiles(run, after_epoch)]
        callbacks.append(Checkpoints(self.save, every_epochs=every[0], every_steps=every[1]))
        if self.early is not None:
            callbacks.append(self.early)
        if train["diagnostics"]:
            callbacks.append(Diagnostics(self.experiment.splits.train[0][:PROBE_SIZE]))
        return callbacks

    def request_stop(self) -> None:
        """End `fit` after the current step, with a checkpoint (safe to call from a signal)."""
        self.trainer.request_stop()

    def save(self, states: Mapping[str, State]) -> None:
        """Write checkpoints {kind: state} with what resuming and evaluating need besides the
        trainer's state: the training data's fingerprint and the standardizer's statistics."""
        self._save(self.run, states)

    def _save(self, run: Run, states: Mapping[str, State]) -> None:
        extra: dict[str, Any] = {"data_sha256": self.fingerprint, "standardizer": None}
        if (standardizer := self.experiment.standardizer) is not None:
            extra["standardizer"] = {"mean": standardizer.mean, "std": standardizer.std}
        run.save(states, config=self.config, extra=extra)

    def summarize(self) -> dict[str, Any]:
        """summary.json, written and returned: each checkpoint's metrics on every split, named
        with its epoch, `final` the one evaluate.py uses by default; the best and the last
        epoch (see `experiments.results.summarize`)."""
        splits = self.experiment.splits
        named = {"train": splits.train, "val": splits.val, "test": splits.test}
        summary = summarize(self.trainer, named, self.run)
        self.run.write_summary(summary)
        return summary


def _trainer(experiment: Experiment, *, quiet: bool) -> tuple[Trainer, EarlyStopping | None]:
    """The Trainer and early stopping of the config's `train` section, checked against the
    data (a val monitor needs a val split)."""
    train, splits = experiment.config["train"], experiment.splits
    trainer = Trainer(
        experiment.model,
        experiment.loss,
        experiment.optimizer,
        schedule=experiment.schedule,
        rng=experiment.rng,
        clip_norm=train["clip_norm"],
        quiet=quiet,
    )
    stopping = train["early_stopping"]
    early = EarlyStopping(**stopping) if stopping else None
    trainer.check_fit(
        *splits.train, epochs=train["epochs"], batch_size=train["batch_size"],
        validation_data=splits.val, callbacks=[early] if early else [],
    )  # fmt: skip
    return trainer, early


class _RunFiles(Callback):
    """After each epoch: the run's metrics files rewritten, then `after_epoch(row)` may ask
    to stop (True)."""

    def __init__(self, run: Run, after_epoch: AfterEpoch | None) -> None:
        self.run, self.after_epoch = run, after_epoch

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        self.run.write_metrics(trainer.progress.history, METRIC_COLUMNS)
        if self.after_epoch is not None and self.after_epoch(row):
            trainer.request_stop()
