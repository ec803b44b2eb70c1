"""Train a model from a YAML config and leave a complete, resumable run folder behind.

    python scripts/train.py --config configs/mlp.yaml [--set optim.lr=0.05 ...] [--out DIR]
    python scripts/train.py --resume runs/mlp [--set train.epochs=300]

Exit codes: 0 done, 1 the run folder could not be written (disk full, say) or a --sanity
check failed (nothing written), 2 a mistake in
the command, config, data or checkpoint (one line on stderr, nothing written), 3 a NaN or Inf
stopped training (the last good checkpoint is kept), 128 + signal number after SIGINT or
SIGTERM (a checkpoint was saved; resume with --resume).
"""

import argparse
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # the heavy modules load only after argparse, so --help stays fast
    from models.build import Experiment
    from models.run import Run
    from models.trainer import EarlyStopping, Trainer

EXIT_SANITY, EXIT_USAGE, EXIT_NON_FINITE = 1, 2, 3


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (`error: ... (see train.py --help)`), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="train.py",
        description="Train a model from a YAML config; writes a run folder (config.yaml, "
        "metrics.jsonl, metrics.csv, checkpoints/best.npz and last.npz, summary.json).",
        epilog="example: python scripts/train.py --config configs/mlp.yaml --set optim.lr=0.05",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML config to train")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. optim.lr=0.05 (repeatable; values read as YAML)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="run folder (default: runs/<config name>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--sanity",
        action="store_true",
        help="run the sanity checks of scripts/sanity.py first; stop with exit 1 if one fails",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue RUN_DIR from checkpoints/last.npz (its config.yaml, unless --config)",
    )
    args = parser.parse_args(argv)
    if args.config is None and args.resume is None:
        parser.error("give --config FILE to start a run, or --resume RUN_DIR to continue one")
    if args.resume is not None and args.sanity:
        parser.error("--sanity checks a fresh model before training; it cannot resume a run")
    if args.resume is not None and args.out is not None:
        parser.error("--out starts a new run folder; it cannot be combined with --resume")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        session = _prepare(args)
    except (ValueError, TypeError, OSError) as err:  # ConfigError, CheckpointError, DataError
        return _fail(err, EXIT_USAGE)
    if args.sanity:
        from models.sanity import run_sanity

        report = run_sanity(session.experiment, target=str(args.config))
        print(report)
        if not report.ok:
            return _fail("a sanity check failed: training not started", EXIT_SANITY)
    return session.run()


def _fail(err: BaseException | str, code: int) -> int:
    print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
    return code


def _prepare(args: argparse.Namespace) -> "Session":
    """Everything that can fail on user input, before any file is written."""
    from models.build import build
    from models.config import load_config
    from models.run import Run, check_resume_config, data_fingerprint

    run = checkpoint = None
    if args.resume is not None:
        run = Run.open(args.resume)
        checkpoint = run.load("last")
    config = load_config(args.config or run.config_path, args.overrides)
    if checkpoint is not None:
        check_resume_config(checkpoint.config, config, run=args.resume)
    experiment = build(config)
    trainer, early = _trainer(experiment, quiet=args.quiet)
    fingerprint = data_fingerprint(*experiment.splits.train)
    if checkpoint is not None:
        if checkpoint.state.get("data_sha256") != fingerprint:
            raise ValueError(
                f"cannot resume {args.resume}: the training data differs from the checkpoint's "
                "(the data file or data options changed)"
            )
        trainer.load_state_dict(checkpoint.state, source=str(checkpoint.path))
    return Session(args, config, experiment, trainer, early, fingerprint, run)


def _trainer(experiment: "Experiment", *, quiet: bool) -> tuple["Trainer", "EarlyStopping | None"]:
    """The Trainer and early stopping of the config's `train` section, checked against the
    data (a val monitor needs a val split)."""
    from models.trainer import EarlyStopping, Trainer

    train, splits = experiment.config["train"], experiment.splits
    trainer = Trainer(
        experiment.model,
        experiment.loss,
        experiment.optimizer,
        schedule=experiment.schedule,
        rng=experiment.rng,
        batch_size=train["batch_size"],
        clip_norm=train["clip_norm"],
        quiet=quiet,
        diagnostics=train["diagnostics"],
    )
    stopping = train["early_stopping"]
    early = EarlyStopping(**stopping) if stopping else None
    trainer.check_fit(splits.train, splits.val, epochs=train["epochs"], early_stopping=early)
    return trainer, early


@dataclass
class Session:
    """A prepared run: writes the run folder, trains, summarizes."""

    args: argparse.Namespace
    config: dict[str, Any]
    experiment: "Experiment"
    trainer: "Trainer"
    early: "EarlyStopping | None"
    fingerprint: str
    run_dir: "Run | None" = None
    signal: int | None = None

    def run(self) -> int:
        from models.run import final_line, relative, summarize
        from models.trainer import NonFiniteError

        self._catch_signals()  # from here on, a signal ends the run with a checkpoint
        run = self._open_folder()
        try:
            self._fit(run)
        except NonFiniteError as err:
            return _fail(f"{err}; run folder: {relative(run.folder)}", EXIT_NON_FINITE)
        except OSError as err:  # the disk, not the input: say which file, keep what was saved
            return _fail(f"cannot write to the run folder {relative(run.folder)}: {err}", 1)
        if self.trainer.interrupted:
            return self._interrupted(relative(run.folder))
        splits = self.experiment.splits
        named = {"train": splits.train, "val": splits.val, "test": splits.test}
        summary = summarize(self.trainer, named, run=relative(run.folder))
        run.write_summary(summary)
        print(final_line(summary))
        return 0

    def _open_folder(self) -> "Run":
        """A new run folder with config.yaml and a step-0 checkpoint (so even epoch 1 can be
        resumed), or the resumed one, cleaned and with its files matching the checkpoint."""
        from models.config import dump_config
        from models.run import Run

        if self.run_dir is None:
            self.run_dir = Run.create(self.args.out or Path("runs") / self.args.config.stem)
            self.run_dir.write_config(dump_config(self.config))
            self._save({"last": self.trainer.state_dict()})
        else:
            self.run_dir.clean()
            self.run_dir.write_config(dump_config(self.config))
            self.run_dir.write_metrics(self.trainer.progress.history)
        return self.run_dir

    def _fit(self, run: "Run") -> None:
        trainer, train, splits = self.trainer, self.config["train"], self.experiment.splits
        trainer.fit(
            splits.train,
            splits.val,
            epochs=train["epochs"],
            early_stopping=self.early,
            on_epoch_end=lambda row: self._epoch_end(run, row),
            save=self._save,
            checkpoint_every_epochs=train["checkpoint_every_epochs"],
            checkpoint_every_steps=train["checkpoint_every_steps"],
        )

    def _epoch_end(self, run: "Run", row: dict[str, Any]) -> None:
        run.write_metrics(self.trainer.progress.history)
        for line in row.get("warnings", ()):
            print(f"warning: epoch {row['epoch']}: {line}", file=sys.stderr)

    def _save(self, states: dict[str, dict[str, Any]]) -> None:
        extra: dict[str, Any] = {"data_sha256": self.fingerprint, "standardizer": None}
        standardizer = self.experiment.standardizer
        if standardizer is not None:
            extra["standardizer"] = {"mean": standardizer.mean, "std": standardizer.std}
        assert self.run_dir is not None
        self.run_dir.save(states, config=self.config, extra=extra)

    def _catch_signals(self) -> None:
        def stop(signum: int, frame: Any) -> None:
            self.signal = signum
            self.trainer.request_stop()
            signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)

    def _interrupted(self, folder: str) -> int:
        p = self.trainer.progress
        name = signal.Signals(self.signal or signal.SIGINT).name
        where = (
            f"in epoch {p.epoch + 1} after step {p.step}" if p.step else f"after epoch {p.epoch}"
        )
        print(
            f"stopped by {name} {where}; checkpoint saved in "
            f"{folder}/checkpoints/last.npz; resume with: "
            f"python scripts/train.py --resume {folder}",
            file=sys.stderr,
        )
        return 128 + (self.signal or signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
