"""Reading a config: the file, its `imports`, the `--set` overrides, then validation."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gategraph.experiments.config.errors import ConfigError
from gategraph.experiments.config.imports import import_all
from gategraph.experiments.config.overrides import Origin, apply
from gategraph.experiments.config.sections import resolve, root
from gategraph.experiments.config.yamlio import dump_yaml, parse_yaml


def read_config(path: str | Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], Origin]:
    """`load_config`'s config and where each entry came from, to locate a later error (a
    constructor's objection at build time) at its line or override: `origin.locate(err)`."""
    where = str(path)
    if Path(path).exists() and not (Path(path).is_file() or Path(path).is_dir()):  # would block
        raise ConfigError(
            "cannot read the config: not a regular file (a FIFO, a socket or a device)", where=where
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"cannot read the config: {getattr(err, 'strerror', None) or err}", where=where
        ) from None
    raw, lines = parse_yaml(text, where)
    origin = Origin(where, lines, [])
    try:
        config = apply(root(raw), overrides, origin)
        return _resolve(config, Path(path).parent), origin
    except ConfigError as err:
        raise origin.locate(err) from err


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved config in file `path` after `overrides` (`["optim.lr=0.05", ...]`).

    Every default is filled in, so saving it (`dump_config`) reproduces the run. The files
    and modules in its `imports` are imported first (files relative to `path`; see
    `config.imports`). Validation never builds: a constructor's objection (a layer that cannot
    take its input) surfaces when the experiment is built (`experiments.build.load_experiment`
    locates it in the file). Raises ConfigError: `file:line: key.path: reason`, or
    `--set K=V: ...`.
    """
    return read_config(path, overrides)[0]


def apply_overrides(config: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """`config` with `overrides` (`["optim.lr=0.05", "schedule=null"]`) set, resolved.
    Raises ConfigError; one caused by an override names it: `--set optim.lrr=0.05: ...`."""
    origin = Origin("", {}, [])
    try:
        return _resolve(apply(config, overrides, origin), Path.cwd())
    except ConfigError as err:
        raise origin.locate(err) from err


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` validated, every default filled in (idempotent); its `imports` imported
    (files relative to the working directory). Raises ConfigError."""
    return _resolve(config, Path.cwd())


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text that `load_config` reads back to the same dict."""
    return dump_yaml(config)


def _resolve(config: Any, folder: Path) -> dict[str, Any]:
    """`resolve` after importing the config's `imports` (files relative to `folder`)."""
    config = root(config)
    if "imports" in config:
        config = {**config, "imports": import_all(config["imports"], folder)}
    return resolve(config)
