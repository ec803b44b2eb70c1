"""Evaluate a run's checkpoint: loss, accuracy and a confusion matrix on a split or a file.

    python scripts/evaluate.py --run runs/mlp [--checkpoint best|last] [--split test]
    python scripts/evaluate.py --run runs/mlp --data new_points.csv [--label COLUMN]

The model is built from the run's config.yaml and loaded from the checkpoint (refused if its
parameters do not match); a --data file is standardized with the statistics saved in the
checkpoint. The first line names the checkpoint and its epoch; by default it is the best one,
whose test metrics train.py's final line reports. Exit code 2 with a one-line error for any
bad input.
"""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, fail

if TYPE_CHECKING:  # the heavy modules load only after argparse, so --help stays fast
    import numpy as np

    from gategraph.experiments.build import Experiment

EXIT_USAGE = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="evaluate.py",
        description="Print loss, accuracy and a confusion matrix of a run's checkpoint.",
        examples=[
            "python scripts/evaluate.py --run runs/mlp",
            "python scripts/evaluate.py --run runs/mlp --checkpoint last --split val",
        ],
    )
    parser.add_argument("--run", type=Path, required=True, metavar="DIR", help="a run folder")
    parser.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        help="which checkpoint (default: best, the one train.py's final line reports; last if "
        "there is no best)",
    )
    parser.add_argument("--data", type=Path, metavar="FILE", help="a .npz (X, y) or .csv file")
    parser.add_argument("--label", metavar="COLUMN", help="label column of a .csv (default: last)")
    parser.add_argument(
        "--split",
        choices=("train", "val", "test"),
        help="split of the run's own data (default: test if it has one, else val, else train)",
    )
    args = parser.parse_args(argv)
    if args.data is not None and args.split is not None:
        parser.error("--data and --split are alternatives: give one")
    if args.label is not None and args.data is None:
        parser.error("--label applies to a --data file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = _evaluate(args)
    except (ValueError, TypeError, OSError) as err:  # ConfigError, CheckpointError, DataError
        return fail(err, EXIT_USAGE)
    print(report)
    return 0


def _evaluate(args: argparse.Namespace) -> str:
    from gategraph.data import load_file
    from gategraph.experiments.build import load_experiment
    from gategraph.experiments.results import (
        checkpoint_name,
        default_checkpoint,
        inputs_for,
        pick_split,
    )
    from gategraph.experiments.resume import check_same_split, check_state, data_fingerprint
    from gategraph.saving.run import Run
    from gategraph.training.weights import load_weights

    run = Run.open(args.run)
    kind = args.checkpoint or default_checkpoint(run)
    checkpoint = run.load(kind)
    config, experiment = load_experiment(run.config_path)
    warning = check_same_split(checkpoint.config, config, run=args.run, split=args.data is None)
    if args.data is None and checkpoint.state.get("data_sha256") != data_fingerprint(
        *experiment.splits.train
    ):
        raise ValueError(
            f"cannot evaluate {args.run}: the training data differs from the checkpoint's (the "
            "data file changed), so the splits are not the run's"
        )
    n_train = len(experiment.splits.train[1])
    check_state(checkpoint.state, n_train, source=str(checkpoint.path))
    load_weights(experiment.model, checkpoint.state, source=str(checkpoint.path))
    if warning is not None:  # the weights fit: the difference leaves them usable
        print(f"warning: {warning}; evaluating the checkpoint's weights", file=sys.stderr)
    if args.data is not None:
        X, y = inputs_for(experiment, checkpoint, *load_file(args.data, args.label), args.data)
        what = str(args.data)
    else:
        name, (X, y) = pick_split(experiment.splits, args.split)
        what = f"{name} split"
    progress = checkpoint.state["progress"]
    named = checkpoint_name(kind, progress["epoch"], progress["step"])
    title = f"run {args.run}, {named}, {what}"
    return _report(experiment, X, y, title)


def _report(experiment: "Experiment", X: "np.ndarray", y: "np.ndarray", title: str) -> str:
    from gategraph.training.evaluation import confusion_matrix, evaluate, labels_of, predict

    model, loss, n_classes = experiment.model, experiment.loss, experiment.n_classes
    metrics = evaluate(model, loss, X, y)
    lines = [f"{title}: {len(X)} samples", f"loss {metrics['loss']:.4f}"]
    if metrics["acc"] is not None and n_classes is not None:
        predicted = labels_of(predict(model, X))
        counts = confusion_matrix(y, predicted, n_classes)
        lines[-1] += f", accuracy {metrics['acc']:.4f} ({int(counts.trace())}/{len(X)})"
        lines += _table(counts)
    return "\n".join(lines)


def _table(counts: "np.ndarray") -> list[str]:
    """The confusion matrix as aligned text, rows true classes, columns predicted ones."""
    rows = [[str(c) for c in row] for row in counts.tolist()]
    width = max(len(str(len(rows) - 1)), *(len(c) for row in rows for c in row))
    header = " " * (width + 2) + " ".join(f"{j:>{width}}" for j in range(len(rows)))
    body = [
        f"{i:>{width}}  " + " ".join(f"{c:>{width}}" for c in row) for i, row in enumerate(rows)
    ]
    return ["confusion matrix (rows: true class, columns: predicted class)", header, *body]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # evaluating writes nothing: one line, as for any stop
        sys.exit(fail("interrupted (SIGINT); nothing was written", 130))
