"""The config's `imports:`: the user's own Python files and modules, imported before the
config is validated, so the layers, losses and optimizers they register are known.

    imports: [mine/swish.py, mylab.layers]   # a file (relative to the config file) or a module

This runs the user's code, as their own script would. A file is imported once per process
under its stem (`mine/swish.py` is the module `swish`, as `import swish` beside it would name
it), with its folder appended to sys.path so it can import its neighbours; its path is stored
absolute in the resolved config, so the run's config.yaml imports it again from wherever the
run folder is reopened.
"""

import importlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from gategraph.experiments.config.checks import NAME, list_of
from gategraph.experiments.config.errors import ConfigError

IMPORTS = list_of(NAME, "a list of Python files (like mine/swish.py) or module names")
_NOT_THEIRS = ("gategraph", "importlib", "_frozen_importlib")  # frames of the machinery
_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def import_all(entries: Any, folder: Path) -> list[str]:
    """Import every entry of `imports` (files relative to `folder`); the entries with files
    made absolute. Raises ConfigError at `imports[i]`, in one line, naming the file."""
    resolved = []
    for i, entry in enumerate(IMPORTS(entries, ("imports",))):
        key = ("imports", i)
        if is_file(entry):
            path = (folder / entry).resolve()
            if not path.is_file():
                reason = f"no such file: {path} (a file in imports is relative to the config)"
                raise ConfigError(reason, key)
            _run(lambda path=path: _import_file(path), str(path), key)
            resolved.append(str(path))
        elif _MODULE.fullmatch(entry):
            _run(lambda entry=entry: importlib.import_module(entry), entry, key)
            resolved.append(entry)
        else:
            reason = f"must be a .py file or a module name like mylab.layers, got {entry!r}"
            raise ConfigError(reason, key)
    return resolved


def is_file(entry: str) -> bool:
    """An entry naming a file (`mine/swish.py`) rather than a module (`mylab.layers`)."""
    return entry.endswith(".py") or "/" in entry or "\\" in entry


def _run(load: Any, shown: str, key: tuple) -> None:
    """`load()`, with whatever the user's code raises turned into one line at `key`."""
    try:
        load()
    except ConfigError:
        raise
    except Exception as err:  # the user's code may raise anything: say what and where
        raise ConfigError(f"cannot import {shown}: {_said(err)}", key) from None


def _import_file(path: Path) -> None:
    """Import the file at `path` as the module named by its stem, once per process."""
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", None) or "").resolve() == path:
            return  # imported already (by this config, or by the user as `import swish`)
        raise ImportError(
            f"a module named {name!r} is already imported from "
            f"{getattr(loaded, '__file__', None) or 'Python itself'}: rename the file"
        )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("not a Python file")
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ beside it
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a later attempt runs the fixed file again
        raise
    finally:
        sys.dont_write_bytecode = writes


def _said(err: Exception) -> str:
    """`NameError: name 'np' is not defined (/home/me/mine/swish.py:7)`: the error and its
    line in the user's code (the last frame outside gategraph and the import machinery)."""
    text = f"{type(err).__name__}: {' '.join(str(err).split())}"
    theirs = [
        (frame.f_code.co_filename, line)
        for frame, line in traceback.walk_tb(err.__traceback__)
        if not frame.f_globals.get("__name__", "").startswith(_NOT_THEIRS)
    ]
    if theirs and not isinstance(err, SyntaxError):  # a SyntaxError names its line itself
        text += f" ({theirs[-1][0]}:{theirs[-1][1]})"
    return text
