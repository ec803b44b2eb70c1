"""Reproduce a paper's published test accuracies with the shipped configs; print a Markdown table.

    python scripts/reproduce.py mnist1d [--set train.epochs=5 ...]

`mnist1d` trains configs/mnist1d_{logreg,mlp,cnn}.yaml, each exactly as `scripts/train.py`
does (a Session: load_config, build, Trainer.fit, a run folder under --out), and shows each
run's summary.json test accuracy, the final model's on the 1000 official test sequences (the
dataset's fixed test set), beside the paper's figures (Greydanus 2020, "Scaling Down Deep
Learning"). `--set KEY=VALUE` overrides every config (a quick look:
`--set train.epochs=5`). Needs `pip install -e ".[mnist1d]"`. Exit codes as train.py's: 0 done,
1 a run folder could not be written, 2 a bad command, config or missing package (one line on
stderr), 3 a NaN or Inf stopped training.
"""

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gategraph.experiments.build import load_experiment
from gategraph.experiments.session import Session
from gategraph.saving.run import relative

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, add_overrides, fail

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class Entry:
    """One row of a paper's table: the model, our config for it, its published test accuracy."""

    model: str
    config: str
    paper: float


PAPERS = {
    "mnist1d": (
        Entry("logistic regression", "mnist1d_logreg.yaml", 0.32),
        Entry("MLP", "mnist1d_mlp.yaml", 0.68),
        Entry("CNN", "mnist1d_cnn.yaml", 0.94),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="reproduce.py",
        description=__doc__.splitlines()[0],
        examples=[
            "python scripts/reproduce.py mnist1d",
            "python scripts/reproduce.py mnist1d --set train.epochs=5 --out runs/quick",
        ],
    )
    papers = ", ".join(sorted(PAPERS))
    parser.add_argument("paper", nargs="?", help=f"which paper's table to reproduce: {papers}")
    add_overrides(parser, "override a key in every config, e.g. train.epochs=5 (repeatable)")
    parser.add_argument(
        "--out", type=Path, default=Path("runs"), metavar="DIR", help="where the runs go"
    )
    args = parser.parse_args(argv)
    if args.paper not in PAPERS:
        said = "" if args.paper is None else f", got {args.paper!r}"
        parser.error(f"name the paper whose table to reproduce: {papers}{said}")
    rows = []
    try:
        for entry in PAPERS[args.paper]:
            print(f"training configs/{entry.config} ...", file=sys.stderr, flush=True)
            rows.append(reproduce(entry, args.overrides, args.out))
    except (ValueError, TypeError, ImportError) as err:  # ConfigError, a missing package
        return fail(err, 2)
    except OSError as err:
        return fail(f"cannot write the run folder: {err}", 1)
    except FloatingPointError as err:  # NonFiniteError
        return fail(err, 3)
    print(table(rows))
    return 0


def reproduce(entry: Entry, overrides: list[str], out: Path) -> dict[str, Any]:
    """Train `entry`'s config into a run folder under `out` as scripts/train.py does; its
    summary.json's test metrics (the final model on the dataset's fixed test set, the paper's)
    make one row of the table."""
    start = time.perf_counter()
    config, experiment = load_experiment(relative(CONFIGS / entry.config), overrides)
    session = Session.start(
        config, out / Path(entry.config).stem, quiet=True, experiment=experiment
    )
    if not len(session.experiment.splits.test[1]):
        name = config["data"]["name"]
        raise ValueError(f"configs/{entry.config}: data: {name} has no test set to score")
    session.fit()
    test = session.summarize()["final"]["test"]
    progress = session.trainer.progress
    return {
        "entry": entry,
        "run": relative(session.run.folder),
        "epochs": progress.epoch,
        "steps": progress.global_step,
        "test": test["acc"],
        "seconds": time.perf_counter() - start,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: each model's test accuracy beside the paper's, epochs and wall time."""
    lines = [
        "| model | config | test accuracy | paper | epochs (steps) | seconds | run |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        entry = row["entry"]
        lines.append(
            f"| {entry.model} | configs/{entry.config} | {row['test']:.1%} | {entry.paper:.0%} "
            f"| {row['epochs']} ({row['steps']}) | {row['seconds']:.1f} | {row['run']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
