"""The sweep config: a base training config and a search space over its dotted keys.

    base: mlp.yaml                                  # relative to the sweep file
    metric: val_acc                                 # maximized; val_loss would be minimized
    trials: 40
    sampler: {type: tpe, seed: 0}                   # tpe, random, grid
    pruner: {type: median, warmup_epochs: 10}       # median, hyperband, none
    set: {train.epochs: 100}                        # the same for every trial
    space:
      optim.lr: {log_uniform: [1e-3, 1.0]}
      model.layers[0].out_dim: {choice: [50, 100, 200]}

A trial's config is the base with its parameters applied as `--set` overrides, so it is
validated by the same code as any training config. Reading a sweep needs no Optuna.
"""

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gategraph.experiments.config import ConfigError, Key, apply_overrides, load_config, render_key
from gategraph.experiments.config.checks import choice, integer, reject_unknown
from gategraph.experiments.config.overrides import Origin
from gategraph.experiments.config.yamlio import parse_yaml, show
from gategraph.sweeps.space import Dimension, key_path, override, space
from gategraph.training.progress import MONITORS

SAMPLERS: dict[str, dict[str, int]] = {  # type -> its options and their defaults
    "tpe": {"seed": 0, "startup_trials": 10},
    "random": {"seed": 0},
    "grid": {},
}
PRUNERS: dict[str, dict[str, int]] = {
    "median": {"startup_trials": 5, "warmup_epochs": 10},
    "hyperband": {"min_epochs": 1, "reduction_factor": 3},
    "none": {},
}
HEARTBEAT = {"interval": 10, "grace_period": 60}  # seconds
DIRECTIONS = {"min": "minimize", "max": "maximize"}
TOP_KEYS = ("base", "name", "metric", "direction", "trials", "sampler", "pruner", "heartbeat")
TOP_KEYS += ("set", "space")
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class Sweep:
    """A validated sweep config. `base` is the resolved base config with `set` applied."""

    path: Path
    name: str
    base: dict[str, Any]
    space: tuple[Dimension, ...]
    metric: str
    direction: str  # "maximize" or "minimize"
    trials: int  # the budget: trials that run to the end or are pruned
    sampler: dict[str, Any]  # {type, **options}
    pruner: dict[str, Any]
    heartbeat: dict[str, int] = field(default_factory=lambda: dict(HEARTBEAT))

    def trial_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The base config with `params` ({dotted key: value}) set, validated and resolved."""
        return apply_overrides(self.base, [override(k, v) for k, v in params.items()])

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the choices, the last dimension varying fastest."""
        keys = [d.key for d in self.space]
        choices = [d.values for d in self.space]
        return [dict(zip(keys, p, strict=True)) for p in itertools.product(*choices)]

    def record(self) -> dict[str, Any]:
        """What makes two sweeps the same study (stored in it; compared when joining)."""
        return {
            "base": self.base,
            "space": {d.key: d.spec() for d in self.space},
            "metric": self.metric,
            "direction": self.direction,
            "trials": self.trials,
            "sampler": self.sampler,
            "pruner": self.pruner,
        }


def load_sweep(path: str | Path, *, trials: int | None = None) -> Sweep:
    """The sweep config in file `path`, validated (its base config and every dimension's
    values too); `trials` replaces its `trials`. Raises ConfigError: `file:line: key: reason`,
    or the base config's own `file:line: ...` for a problem in the base."""
    path, where = Path(path), str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise ConfigError(f"cannot read the sweep config: {reason}", where=where) from None
    raw, lines = parse_yaml(text, where)
    try:
        return _sweep(raw, path, trials)
    except ConfigError as err:
        raise Origin(where, lines, []).locate(err) from None


def _sweep(raw: Any, path: Path, trials: int | None) -> Sweep:
    spec = _top(raw)
    metric = choice(*MONITORS)(spec.get("metric", "val_acc"), ("metric",))
    direction = spec.get("direction", DIRECTIONS[MONITORS[metric]])
    choice(*DIRECTIONS.values())(direction, ("direction",))
    base = _base(spec, path)
    if metric.startswith("val_") and not base["data"]["val_fraction"]:
        reason = f"{metric} needs a validation split: set data.val_fraction > 0 in the base config"
        raise ConfigError(reason, ("metric",))
    sampler = _block(spec.get("sampler", "tpe"), ("sampler",), SAMPLERS)
    dimensions = space(spec.get("space"), base, grid=sampler["type"] == "grid")
    return Sweep(
        path=path,
        name=_name(spec.get("name", path.stem)),
        base=base,
        space=dimensions,
        metric=metric,
        direction=direction,
        trials=_trials(spec, trials, dimensions, grid=sampler["type"] == "grid"),
        sampler=sampler,
        pruner=_block(spec.get("pruner", "median"), ("pruner",), PRUNERS),
        heartbeat=_heartbeat(spec.get("heartbeat", {})),
    )


def _top(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        got = "nothing" if raw is None else show(raw)
        raise ConfigError(f"a sweep config is a mapping with keys {', '.join(TOP_KEYS)}, got {got}")
    if "base" not in raw and "model" in raw:
        raise ConfigError(
            "this is a training config; a sweep config names one (base: mlp.yaml) and "
            "searches its keys (space: ...)"
        )
    reject_unknown(raw, TOP_KEYS, ())
    for name in ("base", "space"):
        if name not in raw:
            raise ConfigError("required key missing", (name,))
    return raw


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[\w.-]+", value):
        raise ConfigError(f"must be a name of letters, digits, _ . -, got {show(value)}", ("name",))
    return value


def _base(spec: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The base config (a path relative to the sweep file) loaded with the `set` overrides;
    an error in an override points at its line in the sweep file."""
    if not isinstance(spec["base"], str) or not spec["base"]:
        raise ConfigError(
            f"must be the path of a training config, got {show(spec['base'])}", ("base",)
        )
    settings = spec.get("set") or {}
    if not isinstance(settings, dict):
        raise ConfigError(
            f"must be a mapping of dotted keys to values, got {show(settings)}", ("set",)
        )
    for key in settings:
        key_path(key, ("set", key))
    overrides = {override(k, v): k for k, v in settings.items()}
    if not (path.parent / spec["base"]).is_file():
        raise ConfigError(f"no training config at {path.parent / spec['base']}", ("base",))
    try:
        return load_config(path.parent / spec["base"], list(overrides))
    except ConfigError as err:
        item = err.where.removeprefix("--set ")
        if item in overrides:
            key, above = overrides[item], render_key(err.key)
            reason = err.reason if above in ("", key) else f"{above}: {err.reason}"
            raise ConfigError(reason, ("set", key)) from None
        raise


def _block(value: Any, key: Key, kinds: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """A sampler or pruner: `name`, or `{type: name, option: value, ...}` with its defaults."""
    spec = {"type": value} if isinstance(value, str) else value
    if not isinstance(spec, dict):
        raise ConfigError(
            f"must be one of {', '.join(kinds)} or a mapping with a type, got {show(value)}", key
        )
    kind = choice(*kinds)(spec.get("type"), (*key, "type"))
    options = kinds[kind]
    for name in spec:
        if name != "type" and name not in options:
            takes = ", ".join(["type", *options])
            raise ConfigError(f"unknown key; {key[0]} {kind!r} takes: {takes}", (*key, str(name)))
    resolved: dict[str, Any] = {"type": kind}
    for name, default in options.items():
        low = 0 if name == "seed" else 2 if name == "reduction_factor" else 1
        resolved[name] = integer(low)(spec.get(name, default), (*key, name))
    return resolved


def _heartbeat(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"must be a mapping like {{interval: 10, grace_period: 60}}, got {show(value)}",
            ("heartbeat",),
        )
    reject_unknown(value, list(HEARTBEAT), ("heartbeat",))
    beat = {k: integer(1)(value.get(k, d), ("heartbeat", k)) for k, d in HEARTBEAT.items()}
    if beat["grace_period"] <= beat["interval"]:
        raise ConfigError(
            f"must be longer than heartbeat.interval ({beat['interval']} s), or live workers "
            f"are taken for dead, got {beat['grace_period']}",
            ("heartbeat", "grace_period"),
        )
    return beat


def _trials(
    spec: Mapping[str, Any], trials: int | None, space: Sequence[Dimension], *, grid: bool
) -> int:
    """The budget: `trials` (from the command line) or the config's; a grid's is its size."""
    key, where = ("trials",), ""
    if trials is not None:
        spec, key, where = {"trials": trials}, (), f"--trials {trials}"
    if not grid and "trials" not in spec:
        raise ConfigError("required key missing; how many trials to run", key)
    value = integer(1)(spec.get("trials", 1), key)
    if value > MAX_TRIALS:
        raise ConfigError(f"must be at most {MAX_TRIALS}, got {value}", key, where)
    points = math.prod(len(d.values) for d in space)
    if grid and spec.get("trials", points) != points:
        reason = (
            f"a grid of {points} points runs each once: leave trials out, or set it to {points}"
        )
        raise ConfigError(f"{reason}, got {value}", key, where)
    return points if grid else value
