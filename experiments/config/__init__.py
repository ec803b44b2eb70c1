"""Experiment configs: safe YAML with line numbers, validation, `--set` overrides, defaults.

The public face of the config modules: `load.py` reads (file, imports, overrides, checks),
`yamlio.py` parses and dumps, `checks.py` holds the value checks, `blocks.py` the typed
`{type: ...}` blocks, `model.py` and `sections.py` the sections, `overrides.py` the `--set`
overrides, `imports.py` the user's own modules.
"""

from gategraph.experiments.config.blocks import INFERRED_OPTIONS
from gategraph.experiments.config.errors import ConfigError, Key, render_key
from gategraph.experiments.config.load import (
    apply_overrides,
    dump_config,
    load_config,
    read_config,
    resolve_config,
)
from gategraph.experiments.config.model import graph_order
from gategraph.experiments.config.overrides import Origin
from gategraph.experiments.config.sections import MAX_DATA, SPLIT_OPTIONS
from gategraph.experiments.config.yamlio import MAX_DEPTH, parse_yaml

__all__ = [
    "INFERRED_OPTIONS",
    "MAX_DATA",
    "MAX_DEPTH",
    "SPLIT_OPTIONS",
    "ConfigError",
    "Key",
    "Origin",
    "apply_overrides",
    "dump_config",
    "graph_order",
    "load_config",
    "parse_yaml",
    "read_config",
    "render_key",
    "resolve_config",
]
