"""Config YAML: safe reading with the line of every key path, and dumping that reads back."""

import math
import re
from typing import Any

import numpy as np
import yaml

from gategraph.experiments.config.errors import ConfigError, Key

_MAX_ENTRIES = 100_000  # a bound on entries, and on key paths: aliases must not expand without end
MAX_DEPTH = 50  # a bound on nesting: a config nests about 5 levels; Python's stack is finite
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
        _check_size(node, where)
        _walk(node, (), lines, where, frozenset())
        return loader.construct_document(node), lines
    except ConfigError:
        raise
    except RecursionError:  # the YAML parser recurses per level: nested far too deep
        raise ConfigError(
            f"the YAML is nested deeper than {MAX_DEPTH} levels", where=where
        ) from None
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


def _check_size(root: yaml.Node, where: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and more than _MAX_ENTRIES distinct nodes, without
    recursion and counting each node once (an alias is checked by `_walk`)."""
    seen, stack = {id(root)}, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            mark = node.start_mark
            raise ConfigError(
                f"the YAML is nested deeper than {MAX_DEPTH} levels",
                where=f"{where}:{mark.line + 1}",
            )
        if len(seen) > _MAX_ENTRIES:
            raise ConfigError(
                f"more than {_MAX_ENTRIES} entries: a config holds settings, not data (put "
                "data in a .csv or .npz file)",
                where=where,
            )
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, depth + 1))


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


def show(value: Any) -> str:
    """A value as YAML spells it: true, null, 'text', [1, 2] (cut at 60 characters)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool | None | int | float):
        return yaml.dump(value, Dumper=_Dumper).removesuffix("\n...\n")
    text = yaml.dump(
        value, Dumper=_Dumper, default_flow_style=True, width=math.inf, sort_keys=False
    ).strip()
    return text if len(text) <= 60 else text[:57] + "..."


def fresh(value: Any) -> Any:
    """A deep copy that shares nothing, even where YAML aliases shared a node."""
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fresh(v) for v in value]
    return value


def dump_yaml(data: Any) -> str:
    """YAML text that `parse_yaml` reads back to the same data."""
    return yaml.dump(fresh(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
