"""`--set KEY=VALUE` overrides, and where each entry of a config came from (`Origin`)."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gategraph.experiments.config.errors import KEY_PATH, ConfigError, Key, render_key
from gategraph.experiments.config.yamlio import fresh, parse_yaml, show

_KEY_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


@dataclass
class Origin:
    """Where a config's entries came from: lines of `file`, then `--set` overrides in order."""

    file: str
    lines: dict[Key, int]
    overrides: list[tuple[str, Key]]

    def overridden(self, item: str, key: Key) -> None:
        """Record `--set item`, which replaced whatever the file held at `key`."""
        self.overrides.append((item, key))
        for stale in [k for k in self.lines if k[: len(key)] == key]:
            del self.lines[stale]

    def locate(self, err: ConfigError) -> ConfigError:
        """`err` prefixed with its line when the file set its key, else with the override
        closest to it (the one sharing the longest start, the latest of equals)."""
        if err.where:
            return err
        if err.key not in self.lines:
            shared = [(_shared_start(err.key, key), i) for i, (_, key) in enumerate(self.overrides)]
            n, i = max(shared, default=(0, 0))
            if n:
                return ConfigError(err.reason, err.key, f"--set {self.overrides[i][0]}")
        if not self.file:
            return err
        key = err.key
        while key not in self.lines and key:
            key = key[:-1]
        return ConfigError(err.reason, err.key, f"{self.file}:{self.lines.get(key, 1)}")


def _shared_start(a: Key, b: Key) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def apply(config: Any, overrides: Sequence[str], origin: Origin) -> Any:
    """A fresh copy of `config` with each `KEY=VALUE` set, recorded in `origin`."""
    if isinstance(overrides, str):
        raise TypeError(f"overrides must be a list of KEY=VALUE strings, got the str {overrides!r}")
    config = fresh(config)
    for item in overrides:
        key, value = _override(item)
        _assign(config, key, value, f"--set {item}")
        origin.overridden(item, key)
    return config


def _override(item: str) -> tuple[Key, Any]:
    """`optim.lr=0.05` -> (("optim", "lr"), 0.05): the value is read as YAML, like the file."""
    if not isinstance(item, str):
        raise ConfigError(f"an override is a KEY=VALUE string, got {item!r}", where="--set")
    text, sep, raw = item.partition("=")
    if not sep or not KEY_PATH.fullmatch(text.strip()):
        raise ConfigError(
            "expected KEY=VALUE with a key path like optim.lr or model.layers[0].out_dim",
            where=f"--set {item}",
        )
    key = tuple(int(index) if index else name for name, index in _KEY_PART.findall(text))
    return key, fresh(parse_yaml(raw, f"--set {item}", marks=False)[0])


def _assign(config: dict, key: Key, value: Any, where: str) -> None:
    """config[key] = value, making absent (or null) mappings on the way."""
    target: Any = config
    for depth, part in enumerate(key):
        if not isinstance(target, list if isinstance(part, int) else dict):
            wanted = f"a list to index with [{part}]" if isinstance(part, int) else "a mapping"
            raise ConfigError(f"is {show(target)}, not {wanted}", key[:depth], where)
        if isinstance(part, int) and part >= len(target):
            raise ConfigError(
                f"index out of range: {render_key(key[:depth])} has {len(target)} items",
                key[: depth + 1],
                where,
            )
        if depth == len(key) - 1:
            target[part] = value
        elif isinstance(part, str) and target.get(part) is None:
            target[part] = {}
        target = target[part]
