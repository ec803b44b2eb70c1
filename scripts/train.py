"""Train a model from a YAML config and leave a complete, resumable run folder behind.

    python scripts/train.py --config configs/mlp.yaml [--set optim.lr=0.05 ...] [--out DIR]
    python scripts/train.py --resume runs/mlp [--set train.epochs=300]

Exit codes: 0 done, 1 the run folder could not be written (disk full, say) or a --sanity
check failed (nothing written), 2 a mistake in the command, config, data or checkpoint (one
line on stderr, nothing written), 3 a NaN or Inf stopped training (the last good checkpoint is
kept), 128 + signal number after SIGINT or SIGTERM (a checkpoint was saved; resume with
--resume; 130 and nothing written for Ctrl-C before training starts). A resume with nothing
left to train says so and exits 0, leaving the run folder as it was. The work is
experiments.session.Session's; this script parses, prints and exits.
"""

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, add_overrides, fail

if TYPE_CHECKING:  # the heavy modules load only after argparse, so --help stays fast
    from gategraph.experiments.session import Session

EXIT_SANITY, EXIT_USAGE, EXIT_NON_FINITE = 1, 2, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="train.py",
        description="Train a model from a YAML config; writes a run folder (config.yaml, "
        "metrics.jsonl, metrics.csv, checkpoints/best.npz and last.npz, summary.json).",
        examples=[
            "python scripts/train.py --config configs/mlp.yaml",
            "python scripts/train.py --config configs/mlp.yaml --set optim.lr=0.05 --out runs/lr05",
            "python scripts/train.py --resume runs/mlp --set train.epochs=300",
        ],
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML config to train")
    add_overrides(parser)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="run folder (default: runs/<config name>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--plot",
        action="store_true",
        help="at the end, write curves.png (and decision_boundary.png for 2-D data) into the "
        'run folder, as scripts/plot.py does (needs pip install -e ".[plot]")',
    )
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
    if args.out is not None and args.out.name in ("", ".", ".."):
        parser.error(f"--out {args.out}: a run folder needs a name of its own, like runs/mlp")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.plot:
            from gategraph.drawing.plots import figure_class

            figure_class()  # a missing matplotlib is an error before training, not after
        session = _session(args)
    except (ImportError, ValueError, TypeError, OSError) as err:  # ConfigError, DataError, ...
        return fail(err, EXIT_USAGE)
    if (reason := session.nothing_to_train()) is not None:
        print(f"nothing to train: {reason}; the run folder is left as it was")
        return 0
    if args.sanity:
        from gategraph.experiments.sanity import run_sanity

        report = run_sanity(session.experiment, target=str(args.config))
        print(report)
        if not report.ok:
            return fail("a sanity check failed: training not started", EXIT_SANITY)
    return _train(session, plot=args.plot)


def _session(args: argparse.Namespace) -> "Session":
    """Everything that can fail on user input, before any file is written."""
    from gategraph.experiments.build import load_experiment
    from gategraph.experiments.session import Session

    if args.resume is not None:
        return Session.resume(args.resume, args.config, args.overrides, quiet=args.quiet)
    config, experiment = load_experiment(args.config, args.overrides)
    out = args.out or Path("runs") / args.config.stem
    return Session.start(config, out, quiet=args.quiet, experiment=experiment)


def _train(session: "Session", *, plot: bool = False) -> int:
    """Write the run folder, train, summarize (and plot); the exit code."""
    from gategraph.experiments.results import final_line
    from gategraph.saving.run import relative
    from gategraph.training.guard import NonFiniteError

    signals = _catch_signals(session)  # from here on, a signal ends the run with a checkpoint
    try:
        folder = relative(session.open().folder)
    except OSError as err:  # a read-only or full disk: a new folder is not created at all
        if session.resuming:
            return fail(f"cannot write to the run folder {relative(session.base)}: {err}", 1)
        return fail(f"cannot create the run folder: {err}", 1)
    except ValueError as err:  # no free name left
        return fail(err, EXIT_USAGE)
    try:
        session.fit(_warn)
    except NonFiniteError as err:
        return fail(f"{err}; run folder: {folder}", EXIT_NON_FINITE)
    except OSError as err:  # the disk, not the input: say which file, keep what was saved
        return fail(f"cannot write to the run folder {folder}: {err}", 1)
    if session.interrupted:
        return _interrupted(session, folder, signals[-1])
    print(final_line(session.summarize()))
    if plot:
        from gategraph.drawing.plots import plot_run

        for path in plot_run(session.run.folder):
            print(f"wrote {relative(path)}")
    return 0


def _warn(row: dict[str, Any]) -> bool:
    """Print the epoch's diagnostics warnings; never asks to stop."""
    for line in row.get("warnings", ()):
        print(f"warning: epoch {row['epoch']}: {line}", file=sys.stderr)
    return False


def _catch_signals(session: "Session") -> list[int]:
    """SIGINT and SIGTERM ask the session to stop; the list collects the signals received."""
    received: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        received.append(signum)
        session.request_stop()
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    return received


def _interrupted(session: "Session", folder: str, signum: int) -> int:
    p = session.trainer.progress
    where = f"in epoch {p.epoch + 1} after step {p.step}" if p.step else f"after epoch {p.epoch}"
    print(
        f"stopped by {signal.Signals(signum).name} {where}; checkpoint saved in "
        f"{folder}/checkpoints/last.npz; resume with: "
        f"python scripts/train.py --resume {folder}",
        file=sys.stderr,
    )
    return 128 + signum


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before _train installs its handlers: nothing written yet
        sys.exit(fail("interrupted (SIGINT) before training started; nothing was written", 130))
