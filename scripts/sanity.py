"""Run the sanity checks of a config before training it: the loss at initialization against its
expected value, overfitting a tiny training subset, a gradient check of the whole model.

    python scripts/sanity.py --config configs/mlp.yaml
    python scripts/sanity.py --config configs/mlp.yaml --set model.layers[0].init_scale=10

Prints one row per check (PASS, WARN, FAIL or SKIP, with its numbers), then hints.
Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 a mistake in the command
or config (one line on stderr).
"""

import argparse
import sys
from pathlib import Path

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, add_overrides, fail

EXIT_FAILED, EXIT_USAGE = 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="sanity.py",
        description="Sanity checks before training: initial loss, overfitting a tiny subset, "
        "a gradient check of the whole model.",
        examples=["python scripts/sanity.py --config configs/mlp.yaml"],
    )
    parser.add_argument("--config", type=Path, metavar="FILE", required=True, help="YAML config")
    add_overrides(parser)
    parser.add_argument("--examples", type=int, default=20, help="samples to overfit")
    parser.add_argument("--steps", type=int, default=200, help="step budget to overfit")
    parser.add_argument("--burn-in", type=int, default=10, help="steps before the gradcheck")
    args = parser.parse_args(argv)
    if args.examples < 1 or args.steps < 1 or args.burn_in < 0:
        parser.error(
            "--examples and --steps must be >= 1 and --burn-in >= 0, got "
            f"{args.examples}, {args.steps}, {args.burn_in}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gategraph.experiments.build import load_experiment
    from gategraph.experiments.sanity import run_sanity

    try:
        experiment = load_experiment(args.config, args.overrides)[1]
    except (ValueError, TypeError, OSError) as err:  # ConfigError, DataError
        return fail(err, EXIT_USAGE)
    report = run_sanity(
        experiment,
        target=str(args.config),
        examples=args.examples,
        steps=args.steps,
        burn_in=args.burn_in,
    )
    print(report)
    return 0 if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
