"""Value checks of config entries: small combinators that say what they want in one line.

A `Check` accepts a value or raises `ConfigError: must be <means>, got <value>`; `integer`,
`number`, `choice`, `list_of`, `optional` and `any_of` make them, and `option_check` finds the
one a constructor parameter implies (its name, its annotation, its default). The number
predicates are core's (`is_real`, `is_number`), shared with the constructors' own checks.
"""

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gategraph.core.checks import is_number, is_real
from gategraph.experiments.config.errors import ConfigError, Key
from gategraph.experiments.config.yamlio import show


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Check:
    """Accepts a value when `ok(value)`, else: `must be <means>, got <value>`; `cast` normalizes
    (ints given for floats become floats)."""

    means: str
    ok: Callable[[Any], bool]
    cast: Callable[[Any], Any] = _same

    def __call__(self, value: Any, key: Key) -> Any:
        if not self.ok(value):
            raise ConfigError(f"must be {self.means}, got {show(value)}", key)
        return self.cast(value)


def integer(low: int | None = None) -> Check:
    if low is None:
        means = "an integer"
    else:
        means = "a positive integer" if low == 1 else f"an integer >= {low}"
    return Check(means, lambda v: is_real(v, integer=True) and (low is None or v >= low), int)


def number(
    low: float | None = None, high: float | None = None, *, open_high: bool = False
) -> Check:
    if low is None:
        means = "a number"
    elif high is None:
        means = f"a number >= {low:g}"
    else:
        means = f"a number in [{low:g}, {high:g}{')' if open_high else ']'}"

    def ok(v: Any) -> bool:
        if not is_number(v) or (low is not None and v < low):
            return False
        return high is None or v < high or (v == high and not open_high)

    return Check(means, ok, float)


def choice(*options: str) -> Check:
    return Check(f"one of {', '.join(options)}", lambda v: isinstance(v, str) and v in options)


def list_of(item: Check | None, means: str = "a list") -> Check:
    def ok(v: Any) -> bool:
        return isinstance(v, list) and (item is None or all(item.ok(x) for x in v))

    return Check(means, ok, lambda v: [x if item is None else item.cast(x) for x in v])


def optional(check: Check) -> Check:
    if check.ok(None):
        return check
    return Check(
        f"{check.means} or null",
        lambda v: v is None or check.ok(v),
        lambda v: None if v is None else check.cast(v),
    )


def any_of(checks: Sequence[Check]) -> Check:
    def cast(v: Any) -> Any:
        return next(c for c in checks if c.ok(v)).cast(v)

    means = " or ".join(c.means for c in checks)
    return Check(means, lambda v: any(c.ok(v) for c in checks), cast)


BOOLEAN = Check("true or false", lambda v: isinstance(v, bool))
STRING = Check("a string", lambda v: isinstance(v, str))
NAME = Check("a non-empty string", lambda v: isinstance(v, str) and v != "")
POSITIVE = integer(low=1)
FRACTION = number(0, 1, open_high=True)
SHAPE = Check(
    "a list of positive integers like [1, 8, 8]",
    lambda v: isinstance(v, list) and len(v) > 0 and all(POSITIVE.ok(d) for d in v),
    lambda v: [int(d) for d in v],
)
_BY_TYPE: dict[type, Check] = {
    bool: BOOLEAN,
    int: integer(),
    float: number(),
    str: STRING,
    list: list_of(None),
    tuple: list_of(None),
}
_WELL_KNOWN: dict[str, Check] = {
    **dict.fromkeys(("in_dim", "out_dim", "in_channels", "out_channels", "num_features"), POSITIVE),
    "lr": number(0),
    "weight_decay": number(0),
    "momentum": number(0, 1),
}


def default_check(default: Any) -> Check | None:
    """The check a default's type implies; a tuple of numbers wants a list of numbers."""
    if isinstance(default, tuple | list) and default:
        return _list_check({type(x) for x in default})
    return _BY_TYPE.get(type(default))


def _list_check(kinds: set[Any]) -> Check:
    """A list check: of numbers, integers or strings when all items are of one such kind."""
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind in _PLURAL:
        return list_of(_BY_TYPE[kind], f"a list of {_PLURAL[kind]}")
    return _BY_TYPE[list]


_PLURAL = {int: "integers", float: "numbers", str: "strings"}


def _hint_check(hint: Any) -> Check | None:
    """The check an annotation implies (int, float | None, Literal[...], tuple[int, ...]), or
    None when it says nothing a config can be held to."""
    if isinstance(hint, type) and hint in _BY_TYPE:
        return _BY_TYPE[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple, Sequence):
        return _list_check({a for a in args if a is not Ellipsis})
    if origin is typing.Literal and all(isinstance(a, str) for a in args):
        return choice(*args)
    if origin in (typing.Union, types.UnionType):
        checks = [_hint_check(a) for a in args if a is not type(None)]
        if checks and all(c is not None for c in checks):
            check = checks[0] if len(checks) == 1 else any_of(checks)  # type: ignore[arg-type]
            return optional(check) if type(None) in args else check
    return None


def option_check(param: inspect.Parameter, hint: Any) -> Check | None:
    """How a config value for constructor parameter `param` is checked: by the well-known names
    (out_dim, lr, ...), else by its annotation, else by its default's type; None when nothing
    says (the constructor still checks it when the config is built)."""
    default = param.default
    check = _WELL_KNOWN.get(param.name) or _hint_check(hint)
    if check is None and default is not param.empty and default is not None:
        check = default_check(default)
    return optional(check) if check is not None and default is None else check


def mapping(value: Any, key: Key) -> dict:
    """`value`, which must be a mapping."""
    if not isinstance(value, dict):
        raise ConfigError(f"must be a mapping of keys, got {show(value)}", key)
    return value


def reject_unknown(spec: dict, allowed: Sequence[str], key: Key, owner: str = "") -> None:
    """Refuse a key of `spec` not in `allowed`, suggesting the closest (or listing them)."""
    for name in spec:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"{owner or 'valid'}: {', '.join(allowed)}"
            )
            raise ConfigError(f"unknown key; {hint}", (*key, str(name)))


def need(spec: dict, name: str, key: Key, hint: str) -> Any:
    """spec[name], which must be there (`hint` says what it could be)."""
    if name not in spec:
        raise ConfigError(f"required key missing; {hint}", (*key, name))
    return spec[name]
