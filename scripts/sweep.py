"""Hyper-parameter sweeps on Optuna, from one laptop to many machines.

    python scripts/sweep.py --config configs/spiral_sweep.yaml [--workers N] [--trials N]
                            [--storage URL] [--out DIR]
    python scripts/sweep.py --report runs/spiral_sweep [--storage URL] [--top K]

One machine: the study lives in DIR/study.journal and --workers processes (default: one per
core) share it. Many machines: run the same command on each with the same
--storage postgresql://user@host/db; every worker joins the same study. Running the command again
continues an unfinished sweep. Exit codes: 0 done, 2 a mistake in the command or config (one line
on stderr), 130 stopped by Ctrl-C or SIGTERM (each running trial saved its checkpoint and was
queued again: the same command resumes the sweep).
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, fail, positive_int

if TYPE_CHECKING:  # the heavy modules load only after argparse, so --help stays fast
    from gategraph.sweeps.spec import Sweep

EXIT_USAGE, EXIT_STOPPED = 2, 130
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="sweep.py",
        description="Search a training config's hyper-parameters with Optuna; every trial is a "
        "run folder inside the sweep folder.",
        examples=[
            "python scripts/sweep.py --config configs/spiral_sweep.yaml --workers 2",
            "python scripts/sweep.py --config configs/spiral_sweep.yaml --storage postgresql://user@host/db",
            "python scripts/sweep.py --report runs/spiral_sweep",
        ],
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="the sweep config (YAML)")
    parser.add_argument("--report", type=Path, metavar="DIR", help="print DIR's leaderboard")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=_cores(),
        metavar="N",
        help="worker processes on this machine (default: the number of cores, here %(default)s)",
    )
    parser.add_argument(
        "--trials", type=positive_int, metavar="N", help="trials in all (default: the config's)"
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="a database shared by many machines, e.g. postgresql://user@host/db "
        "(default: the journal file DIR/study.journal)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="the sweep folder (default: runs/<sweep name>)"
    )
    parser.add_argument(
        "--top", type=positive_int, default=10, metavar="K", help="leaderboard rows printed"
    )
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set for children
    args = parser.parse_args(argv)
    if (args.config is None) == (args.report is None):
        parser.error("give --config FILE to run a sweep, or --report DIR to see one")
    return args


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import optuna  # the [sweep] extra
    except ImportError:
        return fail('sweeps need Optuna: pip install -e ".[sweep]"', EXIT_USAGE)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # workers say one line per trial
    if args.report is not None:
        return _report(args.report, args.storage, args.top)
    try:
        sweep, folder, url = _prepare(args)
    except (ValueError, OSError, ImportError) as err:  # ConfigError, no database driver, ...
        return fail(err, EXIT_USAGE)
    if args.worker_index is not None:
        return _work(sweep, folder, url, args.worker_index)
    code = _work(sweep, folder, url, 0) if args.workers == 1 else _spawn(args, folder)
    _report(folder, args.storage, args.top)
    return code


def _prepare(args: argparse.Namespace) -> tuple["Sweep", Path, str]:
    """The sweep, its folder and storage URL; creates the study (queuing its trials) or
    checks that the existing one is this sweep's, before any worker starts."""
    from gategraph.sweeps.spec import load_sweep
    from gategraph.sweeps.storage import JOURNAL, connect, database_url, open_study, write_info

    sweep = load_sweep(args.config, trials=args.trials)
    folder = args.out or Path("runs") / sweep.name
    url = database_url(args.storage) if args.storage else str(folder / JOURNAL)
    if args.storage is None:
        folder.mkdir(parents=True, exist_ok=True)  # the journal lives there
    if args.worker_index is None:
        open_study(sweep, connect(url, sweep.heartbeat))
        write_info(folder, sweep, url)
    return sweep, folder, url


def _work(sweep: "Sweep", folder: Path, url: str, index: int) -> int:
    """One worker in this process; Ctrl-C or SIGTERM saves the current trial and queues it."""
    from gategraph.sweeps.worker import Worker

    worker = Worker(sweep, url, folder, index=index, say=_say(index))

    def stop(signum: int, frame: Any) -> None:
        worker.request_stop()
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        worker.run()
    except (ValueError, OSError) as err:  # another sweep's study, a database gone away, ...
        return fail(err, EXIT_USAGE)
    return EXIT_STOPPED if worker.stopping else 0


def _say(index: int) -> Any:
    def say(message: str) -> None:
        print(f"[worker {index}] {message}", flush=True)

    return say


def _spawn(args: argparse.Namespace, folder: Path) -> int:
    """`args.workers` worker processes running this script with --worker-index, one BLAS
    thread each (N processes share the cores); waits for all of them."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env.setdefault(name, "1")
    command = [sys.executable, __file__, "--config", str(args.config), "--out", str(folder)]
    command += ["--storage", args.storage] if args.storage else []  # else the folder's journal
    command += ["--trials", str(args.trials)] if args.trials else []
    children = [
        subprocess.Popen([*command, "--worker-index", str(i)], env=env) for i in range(args.workers)
    ]
    stopped = False

    def forward(signum: int, frame: Any) -> None:  # Ctrl-C reaches the children by itself
        nonlocal stopped
        stopped = True
        if signum == signal.SIGTERM:
            for child in children:
                child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    codes = [child.wait() for child in children]
    if stopped or EXIT_STOPPED in codes:
        print("stopped; run the same command again to continue the sweep", file=sys.stderr)
        return EXIT_STOPPED
    return max(codes, key=abs)


def _report(folder: Path, storage: str | None, top: int) -> int:
    """Print the leaderboard of the sweep in `folder` and write its leaderboard.csv."""
    from gategraph.sweeps.leaderboard import counts, leaderboard, write_leaderboard
    from gategraph.sweeps.storage import database_url, load_study, read_info

    try:
        info = read_info(folder)
        study = load_study(info["study"], database_url(storage) if storage else info["storage"])
    except (ValueError, OSError) as err:
        return fail(err, EXIT_USAGE)
    columns, rows = leaderboard(study)
    write_leaderboard(folder / "leaderboard.csv", columns, rows)
    found = counts(study)
    print(f"sweep {info['study']}: " + ", ".join(f"{n} {state}" for state, n in found.items()))
    shown = [c for c in columns if c != "worker"]
    print(_table(shown, rows[:top]))
    print(f"leaderboard: {folder / 'leaderboard.csv'}")
    return 0


def _table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    cells = [columns] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in cells
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
