"""Gradient-check every registered layer and loss, or one layer class from your own file.

    python scripts/gradcheck.py                                  # every LAYERS and LOSSES entry
    python scripts/gradcheck.py --mode fast --seed 3
    python scripts/gradcheck.py my_layer.py:MyLayer --input-shape 4,10
    python scripts/gradcheck.py my_layer.py:MyAffine --input-shape 4,10 --arg out_dim=3

Registered entries are checked on their `example(rng)`. A class from a file is built with
`rng=` and `dtype=float64` when its signature takes them (other arguments from --arg
NAME=VALUE, a Python literal or else a string) and fed standard-normal float64 inputs of
--input-shape (one per input, or one shape for all); without --input-shape its own
`example(rng)` is used. Exit status: 0 every check passed, 1 a check failed, 2 usage error.
"""

import argparse
import ast
import copy
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gategraph.gradcheck.check import MODES, GradcheckResult, Options, gradcheck
from gategraph.gradcheck.report import format_table
from gategraph.layers import LAYERS
from gategraph.layers.base import Layer
from gategraph.losses import LOSSES

HEADER = ("kind", "name", "mode", "max rel err", "kinks", "verdict")


class UsageError(Exception):
    """A bad command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # one line, no usage block
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layer", nargs="?", help="FILE.py:CLASS (default: every registered one)")
    parser.add_argument(
        "--input-shape", action="append", default=[], help="like 4,10; repeat per input"
    )
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--mode", choices=MODES, default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10, help="mode sparse: coordinates per tensor")
    parser.add_argument("--directions", type=int, default=3, help="mode fast: per tensor")
    args = parser.parse_args(argv)
    if args.layer is None and (args.input_shape or args.arg):
        raise UsageError("--input-shape and --arg need a FILE.py:CLASS to check")
    if args.arg and not args.input_shape:
        raise UsageError("--arg needs --input-shape (without it the class's example is used)")
    return args


# ---- every registered layer and loss -------------------------------------------------------


def check_registered(seed: int, options: dict[str, Any]) -> int:
    rows, reports = [], []
    for kind, registry in (("layer", LAYERS), ("loss", LOSSES)):
        for name in registry.names():
            result = check_example(registry.get(name), seed, options)
            if isinstance(result, str):
                rows.append((kind, name, options["mode"], "-", "-", "ERROR"))
                reports.append(f"{kind} {name}: {result}")
                continue
            verdict = "ok" if result.ok else "FAILED"
            max_error, kinks = f"{result.max_error:.2e}", str(len(result.kinks))
            rows.append((kind, name, options["mode"], max_error, kinks, verdict))
            if not result.ok:
                reports.append(str(result))
    print("\n".join(format_table(HEADER, rows)))
    for report in reports:
        print(f"\n{report}")
    print(f"\n{len(rows)} checked, {len(reports)} failed")
    return 1 if reports else 0


def check_example(cls: type, seed: int, options: dict[str, Any]) -> GradcheckResult | str:
    """The check of `cls.example`, or the error it raised as one line."""
    rng = np.random.default_rng(seed)
    try:
        obj, inputs = cls.example(rng)
        return gradcheck(obj, inputs, rng, **options)
    except Exception as error:  # one broken entry must not hide the others
        return f"{type(error).__name__}: {error}"


# ---- a layer class from a file -------------------------------------------------------------


def load_class(spec: str) -> type[Layer]:
    path_text, colon, name = spec.rpartition(":")
    if not colon or not path_text or not name:
        raise UsageError(f"expected FILE.py:CLASS, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    module_name = f"_gradcheck_user_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        raise UsageError(f"importing {path} raised {type(error).__name__}: {error}") from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        found = [k for k, v in vars(module).items() if _own_layer_class(v, module_name)]
        raise UsageError(
            f"{path} has no Layer class {name!r}; Layer classes there: {', '.join(found) or 'none'}"
        )
    return cls


def _own_layer_class(value: Any, module_name: str) -> bool:
    return isinstance(value, type) and issubclass(value, Layer) and value.__module__ == module_name


def build(cls: type[Layer], args: argparse.Namespace, rng: np.random.Generator) -> tuple[Any, Any]:
    """(layer, inputs): built from the command line, or the class's own example."""
    if not args.input_shape:
        if getattr(cls.example, "__func__", None) is Layer.example.__func__:
            raise UsageError(f"give --input-shape (like 4,10): {cls.__name__} has no example(rng)")
        return cls.example(rng)
    kwargs = dict(parse_assignment(a) for a in args.arg)
    accepted = inspect.signature(cls).parameters
    kwargs.update({k: v for k, v in (("rng", rng), ("dtype", np.float64)) if k in accepted})
    try:
        layer = cls(**kwargs)
    except Exception as error:
        raise UsageError(
            f"could not build {cls.__name__}: {type(error).__name__}: {error} "
            "(pass its arguments with --arg NAME=VALUE)"
        ) from None
    shapes = [parse_shape(text) for text in args.input_shape]
    n = getattr(cls, "n_inputs", 1)
    shapes = shapes * n if len(shapes) == 1 else shapes
    if len(shapes) != n:
        raise UsageError(f"{cls.__name__} takes {n} inputs: give 1 or {n} --input-shape")
    inputs = tuple(rng.standard_normal(shape) for shape in shapes)
    try:
        copy.deepcopy(layer).forward(*inputs)
    except Exception as error:
        raise UsageError(
            f"{cls.__name__}.forward rejects inputs of shape {', '.join(map(str, shapes))}: "
            f"{type(error).__name__}: {error}"
        ) from None
    return layer, inputs if n > 1 else inputs[0]


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UsageError(f"--input-shape takes positive integers like 4,10, got {text!r}")
    return shape


def parse_assignment(text: str) -> tuple[str, Any]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise UsageError(f"--arg takes NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def check_user(spec: str, args: argparse.Namespace, options: dict[str, Any]) -> int:
    rng = np.random.default_rng(args.seed)
    cls = load_class(spec)
    layer, inputs = build(cls, args, rng)
    try:
        result = gradcheck(layer, inputs, rng, **options)
    except Exception as error:
        print(f"gradcheck: {cls.__name__} raised {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(result)
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        options = {"mode": args.mode, "k": args.k, "directions": args.directions}
        try:
            Options(**options)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if args.layer is None:
            return check_registered(args.seed, options)
        return check_user(args.layer, args, options)
    except UsageError as error:
        print(f"gradcheck: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
