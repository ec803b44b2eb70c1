"""Gradient-check every registered layer and loss, one of them by name, or a layer class from
your own file.

Registered entries are checked on their `example(rng)`. A class from a file (whose folder goes
on sys.path first, so it may import its neighbours) or a registered layer given --input-shape
is built with `rng=` and `dtype=float64` when its signature takes them (other arguments from
--arg NAME=VALUE, a Python literal or else a string) and fed standard-normal float64 inputs of
--input-shape (one per input, or one shape for all); without --input-shape its own
`example(rng)` is used. Exit status: 0 every check passed, 1 a check failed or could not run,
2 a mistake in the command or the layer's file (one line on stderr).
"""

import argparse
import ast
import copy
import functools
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gategraph.gradcheck.check import MODES, GradcheckResult, gradcheck
from gategraph.gradcheck.report import format_table
from gategraph.layers import LAYERS, Layer
from gategraph.losses import LOSSES, Loss

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, fail, non_negative_int, positive_int  # noqa: E402

EXIT_FAILED, EXIT_USAGE = 1, 2
HEADER = ("kind", "name", "mode", "max rel err", "kinks", "verdict")


class UsageError(Exception):
    """A mistake in the command or the checked file: printed as one line, exit status 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="gradcheck.py",
        description=__doc__,
        examples=[
            "python scripts/gradcheck.py",
            "python scripts/gradcheck.py relu",
            "python scripts/gradcheck.py affine --input-shape 4,10 --arg in_dim=10 --arg out_dim=3",
            "python scripts/gradcheck.py --mode fast --seed 3",
            "python scripts/gradcheck.py my_layer.py:MyLayer --input-shape 4,10",
            "python scripts/gradcheck.py my_layer.py:MyAffine --input-shape 4,10 --arg out_dim=3",
        ],
    )
    parser.add_argument(
        "layer",
        nargs="?",
        help="FILE.py:CLASS, or a registered layer or loss by name (default: every registered one)",
    )
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="SHAPE",
        help="input shape like 4,10; repeat it per input",
    )
    parser.add_argument(
        "--arg", action="append", default=[], metavar="NAME=VALUE", help="a constructor argument"
    )
    parser.add_argument("--mode", choices=MODES, default="full", help="coordinates checked")
    count = {"type": positive_int, "metavar": "N"}
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, metavar="N", help="seed of the inputs and dout"
    )
    parser.add_argument("--k", default=10, **count, help="mode sparse: coordinates per tensor")
    parser.add_argument("--directions", default=3, **count, help="mode fast: per tensor")
    args = parser.parse_args(argv)
    if args.layer is None and (args.input_shape or args.arg):
        parser.error("--input-shape and --arg need a layer to check (a name or FILE.py:CLASS)")
    if args.arg and not args.input_shape:
        parser.error("--arg needs --input-shape (without it the class's example is used)")
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
    return EXIT_FAILED if reports else 0


def check_example(cls: type, seed: int, options: dict[str, Any]) -> GradcheckResult | str:
    """The check of `cls.example`, or the error it raised as one line."""
    rng = np.random.default_rng(seed)
    try:
        obj, inputs = cls.example(rng)
        return gradcheck(obj, inputs, rng, **options)
    except (Exception, SystemExit) as error:  # one broken entry must not hide the others
        return f"{type(error).__name__}: {error}"


# ---- one layer: registered, or a class from a file ------------------------------------------


def find_class(spec: str) -> type[Layer]:
    """The class `spec` names: FILE.py:CLASS, or a registered layer or loss."""
    if ":" in spec or spec.endswith(".py"):
        return load_class(spec)
    if spec in LOSSES:
        return LOSSES.get(spec)
    try:
        return LAYERS.get(spec)
    except ValueError as error:
        losses = ", ".join(LOSSES.names())
        raise UsageError(f"{error}; or a loss: {losses}; or FILE.py:CLASS") from None


def load_class(spec: str) -> type[Layer]:
    path_text, colon, name = spec.rpartition(":")
    if not colon or not path_text or not name:
        raise UsageError(f"expected FILE.py:CLASS, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    module = import_file(path)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        found = [k for k, v in vars(module).items() if _own_layer_class(v, module.__name__)]
        raise UsageError(
            f"{path} has no Layer class {name!r}; Layer classes there: {', '.join(found) or 'none'}"
        )
    return cls


def import_file(path: Path) -> Any:
    """The module in `path`, imported with its folder on sys.path (so that it can import the
    files beside it) under a name of its own."""
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = f"_gradcheck_user_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as stop:
        said = f"importing {path} called sys.exit({stop.code!r}): nothing was checked"
        raise UsageError(said) from None
    except Exception as error:
        raise UsageError(f"importing {path} raised {type(error).__name__}: {error}") from None
    return module


def _own_layer_class(value: Any, module_name: str) -> bool:
    return isinstance(value, type) and issubclass(value, Layer) and value.__module__ == module_name


def build(cls: type[Layer], args: argparse.Namespace, rng: np.random.Generator) -> tuple[Any, Any]:
    """(layer, inputs): built from the command line, or the class's own example."""
    if not args.input_shape:
        if getattr(cls.example, "__func__", None) is Layer.example.__func__:
            raise UsageError(f"give --input-shape (like 4,10): {cls.__name__} has no example(rng)")
        layer, inputs = _run(cls, "example", cls.example, rng)
        return require_layer_init(layer), inputs
    layer = require_layer_init(construct(cls, args.arg, rng))
    n = getattr(cls, "n_inputs", 1)
    texts = args.input_shape * n if len(args.input_shape) == 1 else args.input_shape
    if len(texts) != n:
        raise UsageError(f"{cls.__name__} takes {n} inputs: give 1 or {n} --input-shape")
    shapes = [parse_shape(text) for text in texts]
    inputs = tuple(draw(rng, shape, text) for shape, text in zip(shapes, texts, strict=True))
    shown = ", ".join(map(str, shapes))
    _run(cls, f"forward on inputs of shape {shown}", copy.deepcopy(layer).forward, *inputs)
    return layer, inputs if n > 1 else inputs[0]


def construct(cls: type[Layer], assignments: list[str], rng: np.random.Generator) -> Layer:
    """`cls` built from --arg NAME=VALUE, rng and dtype; a bad --arg is blamed by name."""
    given = dict(parse_assignment(a) for a in assignments)
    params = inspect.signature(cls).parameters
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    settable = [
        k for k, p in params.items() if k not in ("rng", "dtype") and p.kind not in variadic
    ]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        for name in given.keys() - params.keys():
            takes = ", ".join(settable) or "none"
            raise UsageError(f"--arg {name}: {cls.__name__} takes no {name!r}; it takes: {takes}")
    if unset := [k for k in settable if params[k].default is params[k].empty and k not in given]:
        needed = " ".join(f"--arg {k}=VALUE" for k in unset)
        raise UsageError(f"{cls.__name__} has no default for {', '.join(unset)}: give {needed}")
    context = {k: v for k, v in (("rng", rng), ("dtype", np.float64)) if k in params}
    try:
        return _run(cls, "__init__", functools.partial(cls, **given, **context))
    except UsageError as error:
        if not assignments:
            raise
        named = [a for a in assignments if re.search(rf"\b{a.partition('=')[0]}\b", str(error))]
        blamed = " ".join(f"--arg {a}" for a in named or assignments)
        raise UsageError(f"{blamed}: {error}") from None


def _run(cls: type, what: str, call: Any, *args: Any) -> Any:
    """`call(*args)`, run on the user's code: what it raises becomes one line, a SystemExit
    included (a check that did not run must never look like one that passed)."""
    try:
        return call(*args)
    except SystemExit as stop:
        raise UsageError(
            f"{cls.__name__}.{what} called sys.exit({stop.code!r}): nothing was checked"
        ) from None
    except Exception as error:
        raise UsageError(f"{cls.__name__}.{what} raised {type(error).__name__}: {error}") from None


def require_layer_init(layer: Any) -> Any:
    """`layer`, if Layer.__init__ ran on it (a forgotten `super().__init__()` is said plainly)."""
    if not isinstance(layer, Layer):
        return layer
    bare = Layer.__new__(Layer)
    Layer.__init__(bare)
    if missing := [name for name in vars(bare) if name not in vars(layer)]:
        name = type(layer).__name__
        raise UsageError(
            f"{name}.__init__ does not call super().__init__(), so the layer has no "
            f"{', '.join(missing)}: make `super().__init__()` the first line of {name}.__init__"
        )
    return layer


def draw(rng: np.random.Generator, shape: tuple[int, ...], text: str) -> np.ndarray:
    """Standard-normal float64 inputs of `shape`, or one line on why they cannot be made."""
    try:
        return rng.standard_normal(shape)
    except (MemoryError, ValueError) as error:
        size = np.prod(np.array(shape, dtype=np.float64)) * 8 / 2**30
        raise UsageError(
            f"--input-shape {text}: cannot allocate {size:.3g} GiB of float64 inputs "
            f"({type(error).__name__}); a gradient check wants a few hundred numbers"
        ) from None


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


def check_one(spec: str, args: argparse.Namespace, options: dict[str, Any]) -> int:
    rng = np.random.default_rng(args.seed)
    cls = find_class(spec)
    if issubclass(cls, Loss) and args.input_shape:
        raise UsageError(f"a loss is checked on its example: drop --input-shape ({spec})")
    layer, inputs = build(cls, args, rng)
    try:
        result = gradcheck(layer, inputs, rng, **options)
    except SystemExit as stop:
        said = (
            f"{cls.__name__} called sys.exit({stop.code!r}) during the check: nothing was checked"
        )
        return fail(said, EXIT_FAILED)
    except Exception as error:
        return fail(f"{cls.__name__} raised {type(error).__name__}: {error}", EXIT_FAILED)
    print(result)
    return 0 if result.ok else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = {"mode": args.mode, "k": args.k, "directions": args.directions}
    try:
        if args.layer is None:
            return check_registered(args.seed, options)
        return check_one(args.layer, args, options)
    except UsageError as error:
        return fail(error, EXIT_USAGE)


if __name__ == "__main__":
    sys.exit(main())
