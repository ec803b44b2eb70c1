"""The config's sections other than the model (data, optim, schedule, train) and the whole:
`resolve` validates a config and fills in every default."""

import math
from typing import Any

from gategraph.core.checks import is_number, is_real
from gategraph.data import DATASETS, REQUIRED, dataset_options
from gategraph.experiments.config.blocks import MISSING, Field, fields, plain, plain_check, typed
from gategraph.experiments.config.checks import (
    BOOLEAN,
    FRACTION,
    POSITIVE,
    SHAPE,
    STRING,
    Check,
    choice,
    default_check,
    integer,
    mapping,
    need,
    number,
    optional,
)
from gategraph.experiments.config.errors import ConfigError, Key
from gategraph.experiments.config.imports import IMPORTS
from gategraph.experiments.config.model import model_section
from gategraph.experiments.config.yamlio import show
from gategraph.optim import OPTIMIZERS
from gategraph.optim.schedules import SCHEDULES
from gategraph.training.progress import MONITORS

SPLIT_OPTIONS = ("val_fraction", "test_fraction", "standardize", "shape")  # data, not dataset


def _data(value: Any, key: Key) -> dict[str, Any]:
    """data: the dataset's name and options (its signature's defaults), then how to split it."""
    spec = mapping(value, key)
    name = STRING(need(spec, "name", key, f"one of {', '.join(sorted(DATASETS))}"), (*key, "name"))
    try:
        options = dataset_options(name)
    except ValueError as err:
        raise ConfigError(str(err), (*key, "name")) from None
    schema: dict[str, Field] = {"name": (MISSING, STRING)}
    for option, default in options.items():
        check = None if default is REQUIRED or default is None else default_check(default)
        given = MISSING if default is REQUIRED else plain(default)
        schema[option] = (given, check or plain_check)
    resolved = fields(spec, key, schema | _SPLITS)
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
    sizes = {n: data[n] for n in _DATA_SIZES if is_real(data.get(n), integer=True) and data[n] >= 1}
    if (total := math.prod(sizes.values())) > MAX_DATA:
        factors = " × ".join(f"{name} {size}" for name, size in sizes.items())
        raise ConfigError(
            f"asks for {total} samples × features"
            f"{f' ({factors})' if len(sizes) > 1 else ''}; a dataset may have at most {MAX_DATA}",
            (*key, max(sizes, key=sizes.__getitem__)),
        )


_SPLITS: dict[str, Field] = {
    "val_fraction": (0.2, FRACTION),
    "test_fraction": (0.0, FRACTION),
    "standardize": (True, BOOLEAN),
    "shape": (None, optional(SHAPE)),
}


def _optim(value: Any, key: Key) -> dict[str, Any]:
    return typed(value, key, OPTIMIZERS, context=("params",))


def _schedule(value: Any, key: Key) -> dict[str, Any] | None:
    return None if value is None else typed(value, key, SCHEDULES, context=("optimizer", "epochs"))


def _early_stopping(value: Any, key: Key) -> dict[str, Any] | None:
    return None if value is None else fields(value, key, _EARLY_STOPPING)


_EARLY_STOPPING: dict[str, Field] = {
    "monitor": ("val_loss", choice(*MONITORS)),
    "patience": (10, POSITIVE),
    "min_delta": (0.0, number(0)),
}


def _train(value: Any, key: Key) -> dict[str, Any]:
    return fields(value, key, _TRAIN)


_TRAIN: dict[str, Field] = {
    "epochs": (100, POSITIVE),
    "batch_size": (64, POSITIVE),
    "clip_norm": (
        None,
        optional(Check("a number > 0", lambda v: is_number(v) and v > 0, float)),
    ),
    "early_stopping": (None, _early_stopping),
    "checkpoint_every_epochs": (1, POSITIVE),
    "checkpoint_every_steps": (None, optional(POSITIVE)),
    "diagnostics": (False, BOOLEAN),
}
_TOP: dict[str, Field] = {
    "imports": ([], IMPORTS),  # imported before validation (load.py); left out when empty
    "seed": (0, integer(low=0)),
    "dtype": ("float32", choice("float32", "float64")),
    "data": (MISSING, _data),
    "model": (MISSING, model_section),
    "optim": (MISSING, _optim),
    "schedule": (None, _schedule),
    "train": ({}, _train),
}


def root(config: Any) -> dict:
    if config is None:
        raise ConfigError(f"the config is empty; expected a mapping with keys {', '.join(_TOP)}")
    if not isinstance(config, dict):
        raise ConfigError(f"a config is a mapping with keys {', '.join(_TOP)}, got {show(config)}")
    return config


def resolve(config: Any) -> dict[str, Any]:
    """The config validated, with every default filled in, as new plain data."""
    resolved = fields(root(config), (), _TOP)
    if not resolved["imports"]:
        del resolved["imports"]  # a config without user code reads as it always did
    stopping = resolved["train"]["early_stopping"]
    if stopping and stopping["monitor"].startswith("val_") and not resolved["data"]["val_fraction"]:
        raise ConfigError(
            f"{stopping['monitor']} needs a validation split: set data.val_fraction > 0",
            ("train", "early_stopping", "monitor"),
        )
    return resolved
