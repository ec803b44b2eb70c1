"""Draw a run's pictures: learning curves and, for 2-D data, the decision regions.

    python scripts/plot.py --run runs/mlp [--checkpoint best|last] [--out DIR]

Writes curves.png (loss and accuracy per epoch, train and validation, from metrics.jsonl, the
best checkpoint's epoch marked) and, when the samples have two features and class labels,
decision_boundary.png: the model of the run's config.yaml with the checkpoint's weights, its
class regions drawn under the data (in the data's own units; the grid is standardized with
the checkpoint's statistics, as in training). Needs matplotlib: pip install -e ".[plot]".
Exit code 2 with a one-line error for a missing matplotlib or a bad run folder.
"""

import argparse
import sys
from pathlib import Path

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, fail

EXIT_USAGE = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="plot.py",
        description="Write curves.png and (2-D data) decision_boundary.png for a run folder.",
        examples=["python scripts/plot.py --run runs/mlp"],
    )
    parser.add_argument("--run", type=Path, required=True, metavar="DIR", help="a run folder")
    parser.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        help="weights of the decision regions (default: best, last if there is no best)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="where the PNGs go (default: the run folder)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from gategraph.drawing.plots import plot_run

        written = plot_run(args.run, args.checkpoint, args.out)
    except (ImportError, ValueError, TypeError, OSError) as err:  # ConfigError, CheckpointError
        return fail(err, EXIT_USAGE)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
