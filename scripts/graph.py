"""Draw a computational graph as Mermaid or DOT text, or as a PNG through Graphviz, each wire
labelled with its value and, below it, its gradient, as in the backprop lecture's circuits.

    python scripts/graph.py --example circuit                   # (x + y) z, the sigmoid neuron
    python scripts/graph.py --example circuit --gradients       # with its gradient nodes
    python scripts/graph.py --example trace                     # the lecture's three traces
    python scripts/graph.py --example circuit --format dot --out docs/circuit.dot
    python scripts/graph.py --config configs/mlp.yaml           # the model and its loss
    python scripts/graph.py --config configs/mlp.yaml --format png --out mlp.png

A config's model is drawn ending in its loss, after one forward and backward on the first
--batch training samples: tensor wires show their shape and L2 norm, each param is a node with
its shape. --structure draws it without running. PNG needs Graphviz's `dot` program.
--gradients adds the circuits' gradient nodes (built of gates, filled red) with their values;
--example trace prints, as Markdown tables, the lecture's forward, forward-derivative and
reverse-adjoint traces of ln(x1) + x1·x2 - sin(x2) at (2, 5), each computed by a graph.
Exit codes: 0 drawn, 1 `dot` failed, 2 a mistake in the command or config, or no `dot` for png
(one line on stderr).
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, add_overrides, fail

if TYPE_CHECKING:  # the heavy modules load only after argparse, so --help stays fast
    from gategraph.drawing.draw import Graphs

EXIT_DOT_FAILED, EXIT_USAGE = 1, 2
FORMATS = ("mermaid", "dot", "png")
EXAMPLES = ("circuit", "trace")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="graph.py",
        description="Draw a graph with values and gradients on its wires (Mermaid, DOT, PNG).",
        examples=[
            "python scripts/graph.py --example circuit",
            "python scripts/graph.py --example circuit --gradients",
            "python scripts/graph.py --example trace",
            "python scripts/graph.py --example circuit --format dot --out docs/circuit.dot",
            "python scripts/graph.py --config configs/mlp.yaml",
            "python scripts/graph.py --config configs/mlp.yaml --format png --out mlp.png",
        ],
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, metavar="FILE", help="draw this config's model")
    source.add_argument("--example", choices=EXAMPLES, help="draw a worked example")
    add_overrides(parser, "override a config key, e.g. model.layers[0].out_dim=10 (repeatable)")
    parser.add_argument("--format", choices=FORMATS, default="mermaid", help="output format")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    parser.add_argument("--batch", type=int, default=4, help="samples run through")
    parser.add_argument("--structure", action="store_true", help="do not run: structure only")
    parser.add_argument(
        "--gradients", action="store_true", help="circuit: add its gradient nodes (adjoints)"
    )
    parser.add_argument("--precision", type=int, default=4, help="significant digits")
    args = parser.parse_args(argv)
    if args.format == "png" and args.out is None:
        parser.error("--format png needs --out FILE.png")
    if args.example is not None and (args.overrides or args.structure):
        parser.error("--set and --structure go with --config, not --example")
    if args.gradients and args.example != "circuit":
        parser.error("--gradients goes with --example circuit")
    if args.example == "trace" and (args.format != "mermaid" or args.out is not None):
        parser.error("--example trace prints Markdown tables: no --format or --out")
    if args.batch < 1 or args.precision < 1:
        parser.error(f"--batch and --precision must be >= 1, got {args.batch}, {args.precision}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.format == "png" and shutil.which("dot") is None:
        return fail(
            "--format png needs Graphviz's `dot` program, which is not on PATH (install "
            "graphviz, e.g. apt install graphviz), or use --format dot or mermaid",
            EXIT_USAGE,
        )
    if args.example == "trace":
        from gategraph.drawing.trace import trace_tables

        return _write(trace_tables(precision=args.precision), None)
    try:
        graphs, run_values = _graphs(args)
    except (ValueError, TypeError, OSError) as err:  # ConfigError, DataError
        return fail(err, EXIT_USAGE)
    from gategraph.drawing.draw import to_dot, to_mermaid

    options = {"precision": args.precision, "run_values": run_values}
    if args.format == "mermaid":
        return _write(to_mermaid(graphs, **options), args.out)
    text = to_dot(graphs, **options)
    if args.format == "dot":
        return _write(text, args.out)
    done = subprocess.run(
        [shutil.which("dot") or "dot", "-Tpng", "-o", str(args.out)],
        input=text,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return fail(f"dot failed: {done.stderr.strip()}", EXIT_DOT_FAILED)
    return 0


def _graphs(args: argparse.Namespace) -> tuple["Graphs", dict | None]:
    """The worked example's graphs by title (with their gradient nodes' values if
    --gradients), or the config's model ending in its loss, run forward and backward on the
    first --batch training samples unless --structure."""
    from gategraph.drawing.draw import lecture_circuits, lecture_circuits_with_gradients

    if args.gradients:
        return lecture_circuits_with_gradients()
    if args.example is not None:
        return lecture_circuits(), None
    from gategraph.experiments.build import load_experiment
    from gategraph.experiments.sanity import model_with_loss

    experiment = load_experiment(args.config, args.overrides)[1]
    graph, labels = model_with_loss(experiment.model, experiment.loss)
    if not args.structure:
        X, y = experiment.splits.train
        graph.forward(**{"x": X[: args.batch], labels: y[: args.batch]})
        graph.backward()
    return graph, None


def _write(text: str, out: Path | None) -> int:
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        return fail(f"cannot write {out}: {err.strerror or err}", EXIT_USAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
