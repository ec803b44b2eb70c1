"""Config blocks: fixed sections (`fields`) and `{type: name, **options}` blocks checked
against the registered class's signature (`typed`)."""

import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gategraph.core.registry import Registry
from gategraph.experiments.config.checks import (
    STRING,
    mapping,
    need,
    option_check,
    reject_unknown,
)
from gategraph.experiments.config.errors import ConfigError, Key

INFERRED_OPTIONS = ("in_dim", "in_channels", "num_features")  # filled from the input shape
MISSING = object()  # no value: required, or a default no config can spell
Field = tuple[Any, Callable[[Any, Key], Any]]  # (default or MISSING, check(value, key))


def fields(value: Any, key: Key, schema: dict[str, Field]) -> dict[str, Any]:
    """A fixed section: no unknown keys, each field checked, absent ones set to their default."""
    spec = mapping(value, key)
    reject_unknown(spec, list(schema), key)
    resolved = {}
    for name, (default, check) in schema.items():
        value = spec.get(name, default)
        if value is MISSING:
            raise ConfigError("required key missing", (*key, name))
        resolved[name] = check(value, (*key, name))
    return resolved


def plain(value: Any) -> Any:
    """`value` as plain YAML data (tuples become lists), or MISSING when YAML cannot hold it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        items = [plain(x) for x in value]
        return MISSING if any(x is MISSING for x in items) else items
    if isinstance(value, dict):
        pairs = {k: plain(v) for k, v in value.items()}
        return MISSING if any(v is MISSING for v in pairs.values()) else pairs
    return MISSING


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation that does not resolve: check by defaults only
        return {}


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def typed(
    value: Any,
    key: Key,
    registry: Registry,
    *,
    context: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """A `{type: name, **options}` block: options checked against the class's signature and
    completed with its defaults. `context` names come from the build, `extra` keys are the
    caller's (a graph node's name and inputs) and are left out of the result."""
    spec = mapping(value, key)
    name = STRING(need(spec, "type", key, f"one of {', '.join(registry.names())}"), (*key, "type"))
    try:
        cls = registry.get(name)
    except ValueError as err:
        raise ConfigError(str(err), (*key, "type")) from None
    options = _settable(registry, name, context)
    reject_unknown(spec, ["type", *extra, *options], key, f"{registry.kind} {name!r} takes")
    hints, resolved = _hints(cls), {"type": name}
    for option, param in options.items():
        if option in spec:
            check = option_check(param, hints.get(option))
            given = spec[option]
            resolved[option] = plain(given) if check is None else check(given, (*key, option))
        elif param.default is param.empty and option not in INFERRED_OPTIONS:
            raise ConfigError(f"{registry.kind} {name!r} needs option {option!r}", key)
        elif (default := plain(param.default)) is not MISSING:
            resolved[option] = default
    return resolved


def _settable(registry: Registry, name: str, context: Sequence[str]) -> dict[str, Any]:
    """{option: inspect.Parameter} a config may give for `name`: its constructor's keywords
    (Registry.accepted) less those the build passes (`context`) and *args / **kwargs."""
    params = inspect.signature(registry.get(name)).parameters
    return {
        option: params[option]
        for option in registry.accepted(name)
        if option not in context and params[option].kind not in _VARIADIC
    }


def plain_check(value: Any, key: Key) -> Any:
    """The check of an option nothing says more about: any plain YAML data."""
    return plain(value)
