"""Experiment configs: safe YAML with line numbers, validation, `--set` overrides, defaults."""

import difflib
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gategraph.core.registry import Registry
from gategraph.core.toposort import CycleError, toposort
from gategraph.data import DATASETS, REQUIRED, dataset_options
from gategraph.layers import LAYERS
from gategraph.losses import LOSSES
from gategraph.optim import OPTIMIZERS
from gategraph.optim.schedules import SCHEDULES
from gategraph.training.trainer import MONITORS

Key = tuple[str | int, ...]  # a key path: ("model", "layers", 2, "out_dim")

INFERRED_OPTIONS = ("in_dim", "in_channels", "num_features")  # filled from the input shape
SPLIT_OPTIONS = ("val_fraction", "test_fraction", "standardize", "shape")  # data, not dataset
_MAX_ENTRIES = 100_000  # a bound on key paths: aliases must not expand without end


def render_key(key: Key) -> str:
    """("model", "layers", 2, "out_dim") -> "model.layers[2].out_dim". A key that is no word
    (nor a key path, as a sweep's `optim.lr`) is shown as Python spells it, so a message stays
    one unambiguous line: ("data", "n-samples") -> "data['n-samples']"."""
    text = ""
    for part in key:
        if isinstance(part, int) or not _KEY_PATH.fullmatch(part):
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


def _one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped as Python's repr does
    (a newline becomes a backslash and an n)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConfigError(ValueError):
    """A config problem, in one line: `where: key.path: reason`.

    `where` is `file:line` (`file:line:column` for YAML syntax), `--set K=V` for an override, or
    empty for an in-memory dict; `key` is the path of the offending entry, () for none. Line
    breaks in `reason` become spaces; `where` is shown with them escaped (`_one_line`).
    """

    def __init__(self, reason: str, key: Key = (), where: str = "") -> None:
        self.reason = _one_line(" ".join(str(reason).splitlines()))
        self.key, self.where = tuple(key), where
        parts = (_one_line(where), render_key(self.key), self.reason)
        super().__init__(": ".join(p for p in parts if p))


# ---- YAML ---------------------------------------------------------------------------------

_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads 1e-3, 5E4 and 2.5e3 as floats (YAML 1.1 wants 1.0e-3)."""


class _Dumper(yaml.SafeDumper):
    """yaml.SafeDumper that quotes strings _Loader would read as floats (a node named "1e3"),
    and double-quotes strings holding a Unicode line break (U+0085, U+2028, U+2029), which it
    then writes escaped: PyYAML would single-quote them, and read U+0085 back as a space."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(c in value for c in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)
for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))

_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map")
}
_PLAIN_TAGS.add("tag:yaml.org,2002:merge")  # the `<<` key of `<<: *defaults`


def parse_yaml(text: str, where: str, *, marks: bool = True) -> tuple[Any, dict[Key, int]]:
    """The data in YAML `text` and the line of each key path ({("optim", "lr"): 7}). Only plain
    data is accepted: a tag like `!!python/object` is refused before anything is constructed.
    Raises ConfigError at `where` (`where:line:column` when `marks`)."""
    try:
        loader = _Loader(text)  # reads the whole text: refuses control characters here
    except yaml.reader.ReaderError as err:
        at = f"{where}:{_line_column(text, err.position)}" if marks else where
        raise ConfigError(
            f"invalid YAML: unacceptable character #x{err.character:04x}: {err.reason}", where=at
        ) from None
    try:
        node = loader.get_single_node()
        lines: dict[Key, int] = {}
        if node is None:
            return None, lines
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, where, frozenset())
        return loader.construct_document(node), lines
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if marks and mark else where
        raise ConfigError(f"invalid YAML: {err.problem or err}", where=at) from None
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an explicit `!!int abc`
        raise ConfigError(f"invalid YAML: {err}", where=where) from None
    finally:
        loader.dispose()


_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def _line_column(text: str, position: int) -> str:
    """Where `text[position]` is, as "line:column" from 1, lines broken as YAML breaks them."""
    breaks = list(_LINE_BREAK.finditer(text, 0, position))
    start = breaks[-1].end() if breaks else 0
    return f"{len(breaks) + 1}:{position - start + 1}"


def _walk(node: yaml.Node, key: Key, lines: dict[Key, int], where: str, above: frozenset) -> None:
    """Record each key path's line under `node`; refuse foreign tags, duplicate keys, cycles."""
    mark = node.start_mark
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConfigError(
            f"tag {tag!r} is not allowed: a config holds plain data (mappings, lists, strings, "
            "numbers, true/false, null)",
            where=f"{where}:{mark.line + 1}:{mark.column + 1}",
        )
    if id(node) in above or len(lines) > _MAX_ENTRIES:
        raise ConfigError("an alias expands without end", key, f"{where}:{mark.line + 1}")
    for child, value in _children(node, key, lines, where, above):
        _walk(value, child, lines, where, above | {id(node)})


def _children(
    node: yaml.Node, key: Key, lines: dict[Key, int], where: str, above: frozenset
) -> list[tuple[Key, yaml.Node]]:
    """(key path, node) of each entry of a mapping or list node, their lines recorded."""
    if isinstance(node, yaml.SequenceNode):
        children = [((*key, i), item) for i, item in enumerate(node.value)]
        lines.update((child, item.start_mark.line + 1) for child, item in children)
        return children
    if not isinstance(node, yaml.MappingNode):
        return []
    children = []
    for key_node, value in node.value:
        _walk(key_node, key, {}, where, above)
        child, line = (*key, str(key_node.value)), key_node.start_mark.line + 1
        if child in lines and key_node.tag != "tag:yaml.org,2002:merge":
            raise ConfigError(
                f"duplicate key (first at line {lines[child]})", child, f"{where}:{line}"
            )
        lines[child] = line
        children.append((child, value))
    return children


# ---- checks -------------------------------------------------------------------------------


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Check:
    """Accepts a value when `ok(value)`, else: `must be <means>, got <value>`; `cast` normalizes
    (ints given for floats become floats)."""

    means: str
    ok: Callable[[Any], bool]
    cast: Callable[[Any], Any] = _same

    def __call__(self, value: Any, key: Key) -> Any:
        if not self.ok(value):
            raise ConfigError(f"must be {self.means}, got {_show(value)}", key)
        return self.cast(value)


def _show(value: Any) -> str:
    """A value as YAML spells it: true, null, 'text', [1, 2]."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool | None | int | float):
        return yaml.dump(value, Dumper=_Dumper).removesuffix("\n...\n")
    text = yaml.dump(
        value, Dumper=_Dumper, default_flow_style=True, width=math.inf, sort_keys=False
    ).strip()
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(low: int | None = None) -> _Check:
    if low is None:
        means = "an integer"
    else:
        means = "a positive integer" if low == 1 else f"an integer >= {low}"
    return _Check(means, lambda v: _is_int(v) and (low is None or v >= low))


def _number(
    low: float | None = None, high: float | None = None, *, open_high: bool = False
) -> _Check:
    if low is None:
        means = "a number"
    elif high is None:
        means = f"a number >= {low:g}"
    else:
        means = f"a number in [{low:g}, {high:g}{')' if open_high else ']'}"

    def ok(v: Any) -> bool:
        if not _is_number(v) or (low is not None and v < low):
            return False
        return high is None or v < high or (v == high and not open_high)

    return _Check(means, ok, float)


def _choice(*options: str) -> _Check:
    return _Check(f"one of {', '.join(options)}", lambda v: isinstance(v, str) and v in options)


def _list_of(item: _Check | None, means: str = "a list") -> _Check:
    def ok(v: Any) -> bool:
        return isinstance(v, list) and (item is None or all(item.ok(x) for x in v))

    return _Check(means, ok, lambda v: [x if item is None else item.cast(x) for x in v])


def _optional(check: _Check) -> _Check:
    if check.ok(None):
        return check
    return _Check(
        f"{check.means} or null",
        lambda v: v is None or check.ok(v),
        lambda v: None if v is None else check.cast(v),
    )


def _any_of(checks: Sequence[_Check]) -> _Check:
    def cast(v: Any) -> Any:
        return next(c for c in checks if c.ok(v)).cast(v)

    means = " or ".join(c.means for c in checks)
    return _Check(means, lambda v: any(c.ok(v) for c in checks), cast)


_BOOLEAN = _Check("true or false", lambda v: isinstance(v, bool))
_STRING = _Check("a string", lambda v: isinstance(v, str))
_NAME = _Check("a non-empty string", lambda v: isinstance(v, str) and v != "")
_POSITIVE = _integer(low=1)
_FRACTION = _number(0, 1, open_high=True)
_SHAPE = _Check(
    "a list of positive integers like [1, 8, 8]",
    lambda v: isinstance(v, list) and len(v) > 0 and all(_POSITIVE.ok(d) for d in v),
    list,
)
_BY_TYPE: dict[type, _Check] = {
    bool: _BOOLEAN,
    int: _integer(),
    float: _number(),
    str: _STRING,
    list: _list_of(None),
    tuple: _list_of(None),
}
_WELL_KNOWN: dict[str, _Check] = {
    **dict.fromkeys(
        ("in_dim", "out_dim", "in_channels", "out_channels", "num_features"), _POSITIVE
    ),
    "lr": _number(0),
    "weight_decay": _number(0),
    "momentum": _number(0, 1),
}


def _default_check(default: Any) -> _Check | None:
    """The check a default's type implies; a tuple of numbers wants a list of numbers."""
    if isinstance(default, tuple | list) and default:
        return _list_check({type(x) for x in default})
    return _BY_TYPE.get(type(default))


def _list_check(kinds: set[Any]) -> _Check:
    """A list check: of numbers, integers or strings when all items are of one such kind."""
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind in _PLURAL:
        return _list_of(_BY_TYPE[kind], f"a list of {_PLURAL[kind]}")
    return _BY_TYPE[list]


_PLURAL = {int: "integers", float: "numbers", str: "strings"}


def _hint_check(hint: Any) -> _Check | None:
    """The check an annotation implies (int, float | None, Literal[...], tuple[int, ...]), or
    None when it says nothing a config can be held to."""
    if isinstance(hint, type) and hint in _BY_TYPE:
        return _BY_TYPE[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple, Sequence):
        return _list_check({a for a in args if a is not Ellipsis})
    if origin is typing.Literal and all(isinstance(a, str) for a in args):
        return _choice(*args)
    if origin in (typing.Union, types.UnionType):
        checks = [_hint_check(a) for a in args if a is not type(None)]
        if checks and all(c is not None for c in checks):
            check = checks[0] if len(checks) == 1 else _any_of(checks)  # type: ignore[arg-type]
            return _optional(check) if type(None) in args else check
    return None


def _option_check(param: inspect.Parameter, hint: Any) -> _Check | None:
    """How a config value for constructor parameter `param` is checked: by the well-known names
    (out_dim, lr, ...), else by its annotation, else by its default's type; None when nothing
    says (the constructor still checks it when the config is built)."""
    default = param.default
    check = _WELL_KNOWN.get(param.name) or _hint_check(hint)
    if check is None and default is not param.empty and default is not None:
        check = _default_check(default)
    return _optional(check) if check is not None and default is None else check


# ---- schema -------------------------------------------------------------------------------

_MISSING = object()  # no value: required, or a default no config can spell
Field = tuple[Any, Callable[[Any, Key], Any]]  # (default or _MISSING, check(value, key))


def _mapping(value: Any, key: Key) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"must be a mapping of keys, got {_show(value)}", key)
    return value


def _reject_unknown(spec: dict, allowed: Sequence[str], key: Key, owner: str = "") -> None:
    for name in spec:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"{owner or 'valid'}: {', '.join(allowed)}"
            )
            raise ConfigError(f"unknown key; {hint}", (*key, str(name)))


def _fields(value: Any, key: Key, schema: dict[str, Field]) -> dict[str, Any]:
    """A fixed section: no unknown keys, each field checked, absent ones set to their default."""
    spec = _mapping(value, key)
    _reject_unknown(spec, list(schema), key)
    resolved = {}
    for name, (default, check) in schema.items():
        value = spec.get(name, default)
        if value is _MISSING:
            raise ConfigError("required key missing", (*key, name))
        resolved[name] = check(value, (*key, name))
    return resolved


def _plain(value: Any) -> Any:
    """`value` as plain YAML data (tuples become lists), or _MISSING when YAML cannot hold it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        items = [_plain(x) for x in value]
        return _MISSING if any(x is _MISSING for x in items) else items
    if isinstance(value, dict):
        pairs = {k: _plain(v) for k, v in value.items()}
        return _MISSING if any(v is _MISSING for v in pairs.values()) else pairs
    return _MISSING


def _need(spec: dict, name: str, key: Key, hint: str) -> Any:
    """spec[name], which must be there (`hint` says what it could be)."""
    if name not in spec:
        raise ConfigError(f"required key missing; {hint}", (*key, name))
    return spec[name]


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation that does not resolve: check by defaults only
        return {}


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _typed(
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
    spec = _mapping(value, key)
    name = _STRING(
        _need(spec, "type", key, f"one of {', '.join(registry.names())}"), (*key, "type")
    )
    try:
        cls = registry.get(name)
    except ValueError as err:
        raise ConfigError(str(err), (*key, "type")) from None
    options = _settable(registry, name, context)
    _reject_unknown(spec, ["type", *extra, *options], key, f"{registry.kind} {name!r} takes")
    hints, resolved = _hints(cls), {"type": name}
    for option, param in options.items():
        if option in spec:
            check = _option_check(param, hints.get(option))
            given = spec[option]
            resolved[option] = _plain(given) if check is None else check(given, (*key, option))
        elif param.default is param.empty and option not in INFERRED_OPTIONS:
            raise ConfigError(f"{registry.kind} {name!r} needs option {option!r}", key)
        elif (default := _plain(param.default)) is not _MISSING:
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


def _data(value: Any, key: Key) -> dict[str, Any]:
    """data: the dataset's name and options (its signature's defaults), then how to split it."""
    spec = _mapping(value, key)
    name = _STRING(
        _need(spec, "name", key, f"one of {', '.join(sorted(DATASETS))}"), (*key, "name")
    )
    try:
        options = dataset_options(name)
    except ValueError as err:
        raise ConfigError(str(err), (*key, "name")) from None
    schema: dict[str, Field] = {"name": (_MISSING, _STRING)}
    for option, default in options.items():
        check = None if default is REQUIRED or default is None else _default_check(default)
        plain = _MISSING if default is REQUIRED else _plain(default)
        schema[option] = (plain, check or _plain_check)
    resolved = _fields(spec, key, schema | _SPLITS)
    _check_data_size(resolved, key)
    if resolved["val_fraction"] + resolved["test_fraction"] >= 1:
        raise ConfigError(
            f"val_fraction + test_fraction must be < 1 to leave training data, got "
            f"{resolved['val_fraction']:g} + {resolved['test_fraction']:g}",
            (*key, "test_fraction"),
        )
    return resolved


MAX_DATA = 10**8  # samples × features a config may have a dataset generate (800 MB float64)
_DATA_SIZES = ("n_samples", "n_per_class", "classes", "n_features")  # multiply to N × D


def _check_data_size(data: dict[str, Any], key: Key) -> None:
    """Refuse, before anything is generated, a dataset whose size options (n_samples or
    n_per_class × classes, times n_features) multiply past MAX_DATA."""
    sizes = {n: data[n] for n in _DATA_SIZES if _is_int(data.get(n)) and data[n] >= 1}
    if (total := math.prod(sizes.values())) > MAX_DATA:
        factors = " × ".join(f"{name} {size}" for name, size in sizes.items())
        raise ConfigError(
            f"asks for {total} samples × features"
            f"{f' ({factors})' if len(sizes) > 1 else ''}; a dataset may have at most {MAX_DATA}",
            (*key, max(sizes, key=sizes.__getitem__)),
        )


def _plain_check(value: Any, key: Key) -> Any:
    return _plain(value)


_SPLITS: dict[str, Field] = {
    "val_fraction": (0.2, _FRACTION),
    "test_fraction": (0.0, _FRACTION),
    "standardize": (True, _BOOLEAN),
    "shape": (None, _optional(_SHAPE)),
}


def _model(value: Any, key: Key) -> dict[str, Any]:
    """model: `layers` (a chain) or `graph` (named nodes) and `output`, plus `loss`."""
    spec = _mapping(value, key)
    loss: Field = ({"type": "softmax_cross_entropy"}, _loss)
    if ("layers" in spec) == ("graph" in spec):
        raise ConfigError(
            "needs exactly one of 'layers' (a chain) or 'graph' (a DAG of named nodes)", key
        )
    if "layers" in spec:
        return _fields(spec, key, {"layers": (_MISSING, _layers), "loss": loss})
    model = _fields(
        spec, key, {"graph": (_MISSING, _graph), "output": (None, _optional(_NAME)), "loss": loss}
    )
    names = [node["name"] for node in model["graph"]]
    if model["output"] is None:
        model["output"] = names[-1]
    elif model["output"] not in names:
        raise ConfigError(_unknown_node(model["output"], names), (*key, "output"))
    used = _feeding(model["graph"], model["output"])
    for i, name in enumerate(names):
        if name not in used:
            raise ConfigError(
                f"node {name!r} does not lead to the output {model['output']!r}: "
                "remove it, or make it the output",
                (*key, "graph", i),
            )
    return model


def _feeding(nodes: Sequence[Mapping[str, Any]], output: str) -> set[str]:
    """The names of `output` and of every node it depends on."""
    inputs = {node["name"]: node["inputs"] for node in nodes}
    used, todo = {output}, [output]
    while todo:
        for source in inputs.get(todo.pop(), ()):
            if source not in used:
                used.add(source)
                todo.append(source)
    return used


def _loss(value: Any, key: Key) -> dict[str, Any]:
    return _typed(value, key, LOSSES)


def _layers(value: Any, key: Key) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"must be a non-empty list of layers, got {_show(value)}", key)
    layers = []
    for i, spec in enumerate(value):
        layer = _typed(spec, (*key, i), LAYERS)
        if (n := LAYERS.get(layer["type"]).n_inputs) != 1:
            raise ConfigError(
                f"layer {layer['type']!r} takes {n} inputs, a chain gives one: use model.graph",
                (*key, i, "type"),
            )
        layers.append(layer)
    return layers


def _graph(value: Any, key: Key) -> list[dict[str, Any]]:
    """model.graph: nodes `{name, type, inputs, **options}` in any order; `x` is the data."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"must be a non-empty list of nodes, got {_show(value)}", key)
    nodes = [_node(spec, (*key, i)) for i, spec in enumerate(value)]
    names: list[str] = ["x"]
    for i, node in enumerate(nodes):
        if node["name"] in names:
            said = "the data input" if node["name"] == "x" else "a node"
            raise ConfigError(f"{node['name']!r} already names {said}", (*key, i, "name"))
        names.append(node["name"])
    for i, node in enumerate(nodes):
        for j, source in enumerate(node["inputs"]):
            if source not in names:
                raise ConfigError(_unknown_node(source, names), (*key, i, "inputs", j))
    try:
        graph_order(nodes)
    except ValueError as err:
        raise ConfigError(str(err), key) from None
    return nodes


def _node(value: Any, key: Key) -> dict[str, Any]:
    """A graph node: `name`, `inputs` (node names or x), then a layer block."""
    spec = _mapping(value, key)
    name = _NAME(_need(spec, "name", key, "a name other nodes use as input"), (*key, "name"))
    inputs = _INPUTS(_need(spec, "inputs", key, "a list of node names, or x"), (*key, "inputs"))
    rest = {k: v for k, v in spec.items() if k not in ("name", "inputs")}
    layer = _typed(rest, key, LAYERS, extra=("name", "inputs"))
    if (n := LAYERS.get(layer["type"]).n_inputs) != len(inputs):
        raise ConfigError(
            f"layer {layer['type']!r} takes {n} input(s), got {len(inputs)}", (*key, "inputs")
        )
    return {"name": name, "type": layer.pop("type"), "inputs": inputs, **layer}


_INPUTS = _Check(
    "a non-empty list of node names",
    lambda v: isinstance(v, list) and len(v) > 0 and all(_NAME.ok(s) for s in v),
    list,
)


def _unknown_node(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown node {name!r}{hint}; nodes: {', '.join(names)}"


def graph_order(nodes: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of graph nodes `{name, inputs}` in topological order (ties in listed order); `x`,
    the data, is no node. Raises ValueError naming a cycle's nodes."""
    try:
        return toposort({node["name"]: node["inputs"] for node in nodes})
    except CycleError as err:
        raise ValueError(f"{err}: a graph must be acyclic") from None


def _optim(value: Any, key: Key) -> dict[str, Any]:
    return _typed(value, key, OPTIMIZERS, context=("params",))


def _schedule(value: Any, key: Key) -> dict[str, Any] | None:
    return None if value is None else _typed(value, key, SCHEDULES, context=("optimizer", "epochs"))


def _early_stopping(value: Any, key: Key) -> dict[str, Any] | None:
    return None if value is None else _fields(value, key, _EARLY_STOPPING)


_EARLY_STOPPING: dict[str, Field] = {
    "monitor": ("val_loss", _choice(*MONITORS)),
    "patience": (10, _POSITIVE),
    "min_delta": (0.0, _number(0)),
}


def _train(value: Any, key: Key) -> dict[str, Any]:
    return _fields(value, key, _TRAIN)


_TRAIN: dict[str, Field] = {
    "epochs": (100, _POSITIVE),
    "batch_size": (64, _POSITIVE),
    "clip_norm": (
        None,
        _optional(_Check("a number > 0", lambda v: _is_number(v) and v > 0, float)),
    ),
    "early_stopping": (None, _early_stopping),
    "checkpoint_every_epochs": (1, _POSITIVE),
    "checkpoint_every_steps": (None, _optional(_POSITIVE)),
    "diagnostics": (False, _BOOLEAN),
}
_TOP: dict[str, Field] = {
    "seed": (0, _integer(low=0)),
    "dtype": ("float32", _choice("float32", "float64")),
    "data": (_MISSING, _data),
    "model": (_MISSING, _model),
    "optim": (_MISSING, _optim),
    "schedule": (None, _schedule),
    "train": ({}, _train),
}


def _root(config: Any) -> dict:
    if config is None:
        raise ConfigError(f"the config is empty; expected a mapping with keys {', '.join(_TOP)}")
    if not isinstance(config, dict):
        raise ConfigError(f"a config is a mapping with keys {', '.join(_TOP)}, got {_show(config)}")
    return config


def _resolve(config: Any) -> dict[str, Any]:
    """The config validated, with every default filled in, as new plain data."""
    resolved = _fields(_root(config), (), _TOP)
    stopping = resolved["train"]["early_stopping"]
    if stopping and stopping["monitor"].startswith("val_") and not resolved["data"]["val_fraction"]:
        raise ConfigError(
            f"{stopping['monitor']} needs a validation split: set data.val_fraction > 0",
            ("train", "early_stopping", "monitor"),
        )
    return resolved


# ---- overrides and the public functions ---------------------------------------------------

_KEY_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*")
_KEY_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


@dataclass
class _Origin:
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


def _apply(config: Any, overrides: Sequence[str], origin: _Origin) -> Any:
    """A fresh copy of `config` with each `KEY=VALUE` set, recorded in `origin`."""
    if isinstance(overrides, str):
        raise TypeError(f"overrides must be a list of KEY=VALUE strings, got the str {overrides!r}")
    config = _fresh(config)
    for item in overrides:
        key, value = _override(item)
        _assign(config, key, value, f"--set {item}")
        origin.overridden(item, key)
    return config


def _fresh(value: Any) -> Any:
    """A deep copy that shares nothing, even where YAML aliases shared a node."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _override(item: str) -> tuple[Key, Any]:
    """`optim.lr=0.05` -> (("optim", "lr"), 0.05): the value is read as YAML, like the file."""
    if not isinstance(item, str):
        raise ConfigError(f"an override is a KEY=VALUE string, got {item!r}", where="--set")
    text, sep, raw = item.partition("=")
    if not sep or not _KEY_PATH.fullmatch(text.strip()):
        raise ConfigError(
            "expected KEY=VALUE with a key path like optim.lr or model.layers[0].out_dim",
            where=f"--set {item}",
        )
    key = tuple(int(index) if index else name for name, index in _KEY_PART.findall(text))
    return key, _fresh(parse_yaml(raw, f"--set {item}", marks=False)[0])


def _assign(config: dict, key: Key, value: Any, where: str) -> None:
    """config[key] = value, making absent (or null) mappings on the way."""
    target: Any = config
    for depth, part in enumerate(key):
        if not isinstance(target, list if isinstance(part, int) else dict):
            wanted = f"a list to index with [{part}]" if isinstance(part, int) else "a mapping"
            raise ConfigError(f"is {_show(target)}, not {wanted}", key[:depth], where)
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


def read_config(path: str | Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], _Origin]:
    """`load_config`'s config and where each entry came from, to locate a later error (a
    constructor's objection at build time) at its line or override: `origin.locate(err)`."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"cannot read the config: {getattr(err, 'strerror', None) or err}", where=where
        ) from None
    raw, lines = parse_yaml(text, where)
    origin = _Origin(where, lines, [])
    try:
        return _resolve(_apply(_root(raw), overrides, origin)), origin
    except ConfigError as err:
        raise origin.locate(err) from err


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved config in file `path` after `overrides` (`["optim.lr=0.05", ...]`).

    Every default is filled in, so saving it (`dump_config`) reproduces the run. Validation
    never builds: a constructor's objection (a layer that cannot take its input) surfaces when
    the experiment is built (`experiments.build.load_experiment` locates it in the file).
    Raises ConfigError: `file:line: key.path: reason`, or `--set K=V: ...`.
    """
    return read_config(path, overrides)[0]


def apply_overrides(config: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """`config` with `overrides` (`["optim.lr=0.05", "schedule=null"]`) set, resolved.
    Raises ConfigError; one caused by an override names it: `--set optim.lrr=0.05: ...`."""
    origin = _Origin("", {}, [])
    try:
        return _resolve(_apply(config, overrides, origin))
    except ConfigError as err:
        raise origin.locate(err) from err


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` validated, every default filled in (idempotent). Raises ConfigError."""
    return _resolve(config)


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text that `load_config` reads back to the same dict."""
    return yaml.dump(_fresh(config), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
