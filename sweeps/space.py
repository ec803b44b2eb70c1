"""A sweep's search space: one `Dimension` per searched key of the base config, each checked
against the base (a value that would not make a valid config fails when the sweep is read)."""

import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gategraph.core.checks import is_number
from gategraph.experiments.config import ConfigError, Key, apply_overrides
from gategraph.experiments.config.errors import KEY_PATH
from gategraph.experiments.config.yamlio import show

if TYPE_CHECKING:  # Optuna (the [sweep] extra) is needed to run trials, not to read a sweep
    import optuna

DIMENSIONS = ("choice", "uniform", "log_uniform", "int", "log_int")


@dataclass(frozen=True)
class Dimension:
    """One searched key: `choice` of `values`, or a range `values = (low, high)` sampled
    uniformly (`uniform`, `int`) or uniformly in log space (`log_uniform`, `log_int`)."""

    key: str  # a dotted key of the base config, like model.layers[0].out_dim
    kind: str
    values: tuple[Any, ...]

    def suggest(self, trial: "optuna.Trial") -> Any:
        """This dimension's value for `trial`, drawn by the study's sampler (or enqueued)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        log = self.kind.startswith("log_")
        if self.kind.endswith("int"):
            return trial.suggest_int(self.key, low, high, log=log)
        return trial.suggest_float(self.key, low, high, log=log)

    def spec(self) -> dict[str, list[Any]]:
        """The dimension as the sweep file spells it: {log_uniform: [0.001, 1.0]}."""
        return {self.kind: list(self.values)}


def override(key: str, value: Any) -> str:
    """`--set` text for one value: JSON is YAML, and keeps 1e-05 a float and "adam" a string."""
    return f"{key}={json.dumps(value)}"


def key_path(text: Any, key: Key) -> None:
    """Refuse `text` unless it is a dotted key path (at `key` of the sweep file)."""
    if not isinstance(text, str) or not KEY_PATH.fullmatch(text):
        raise ConfigError("must be a dotted key path like optim.lr or model.layers[0].out_dim", key)


def space(value: Any, base: Mapping[str, Any], *, grid: bool) -> tuple[Dimension, ...]:
    """The `space:` section: dotted keys of `base` to dimensions (only choices for a grid)."""
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            "must map dotted keys of the base config to ranges, like "
            f"optim.lr: {{log_uniform: [1e-4, 1e-1]}}, got {show(value)}",
            ("space",),
        )
    leaves = list(_leaves(base))
    dimensions = []
    for key, spec in value.items():
        where = ("space", str(key))
        key_path(key, where)
        if key not in leaves:
            raise ConfigError(_missing(key, leaves), where)
        dimension = _dimension(key, spec, where)
        if grid and dimension.kind != "choice":
            reason = f"a grid sweep takes only {{choice: [...]}} dimensions, got {dimension.kind}"
            raise ConfigError(reason, where)
        _check_values(dimension, base, where)
        dimensions.append(dimension)
    return tuple(dimensions)


def _leaves(config: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key of `config` that holds a value (not a mapping or a list)."""
    if isinstance(config, dict):
        for name, value in config.items():
            yield from _leaves(value, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            yield from _leaves(value, f"{prefix}[{i}]")
    else:
        yield prefix


def _missing(key: str, leaves: Sequence[str]) -> str:
    below = [leaf for leaf in leaves if leaf.startswith((f"{key}.", f"{key}["))]
    if below:
        return (
            f"is a section of the base config, not a value: search one of its keys, like {below[0]}"
        )
    close = difflib.get_close_matches(key, leaves, n=1)
    return f"the base config has no key {key}" + (f"; did you mean {close[0]}?" if close else "")


def _dimension(key: str, spec: Any, where: Key) -> Dimension:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DIMENSIONS:
        raise ConfigError(
            f"must be one of {{choice: [a, b, ...]}}, {{uniform: [low, high]}}, {{log_uniform: "
            f"[low, high]}}, {{int: [low, high]}}, {{log_int: [low, high]}}, got {show(spec)}",
            where,
        )
    kind, values = next(iter(spec.items()))
    where = (*where, kind)
    if kind == "choice":
        return Dimension(key, kind, _choices(values, where))
    integer = kind.endswith("int")
    if not (
        isinstance(values, list)
        and len(values) == 2
        and all(is_number(v, integer=integer) for v in values)
        and values[0] < values[1]
    ):
        what = "integers" if integer else "numbers"
        raise ConfigError(
            f"must be [low, high], two {what} with low < high, got {show(values)}", where
        )
    if kind.startswith("log_") and values[0] <= 0:
        raise ConfigError(f"a log range needs low > 0, got {show(values)}", where)
    return Dimension(key, kind, tuple(v if integer else float(v) for v in values))


def _choices(values: Any, where: Key) -> tuple[Any, ...]:
    scalar = (type(None), bool, int, float, str)
    if not isinstance(values, list) or not values or not all(isinstance(v, scalar) for v in values):
        reason = "must be a non-empty list of values (numbers, strings, true/false, null)"
        raise ConfigError(f"{reason}, got {show(values)}", where)
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ConfigError(f"lists {show(value)} twice", where)
    return tuple(values)


def _check_values(dimension: Dimension, base: Mapping[str, Any], where: Key) -> None:
    """Each choice, or both ends of a range, must make a valid config (so a sweep fails here,
    naming the value, and not in its tenth trial)."""
    for value in dimension.values:
        try:
            apply_overrides(base, [override(dimension.key, value)])
        except ConfigError as err:
            raise ConfigError(
                f"{show(value)} does not fit the base config: {err.reason}",
                (*where, dimension.kind),
            ) from None
