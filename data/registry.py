"""DATASETS: config names -> dataset functions, and `load_dataset` that checks the options.

A dataset function returns (X, y), which the config's fractions split into train, val and
test, or (X_train, y_train, X_test, y_test) when the data comes with a fixed test set (a
paper's split): then only the training part is split, into train and val.
"""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.core.registry import Registry
from gategraph.data.digits import digits
from gategraph.data.files import load_file
from gategraph.data.mnist1d import mnist1d
from gategraph.data.splits import Pair
from gategraph.data.toy import blobs, circles, moons, spiral, xor

Loaded = Pair | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # + a fixed test set

DATASETS: Registry[Callable[..., Loaded]] = Registry("dataset")
for _name, _fn in {
    "blobs": blobs,
    "circles": circles,
    "digits": digits,
    "file": load_file,
    "mnist1d": mnist1d,
    "moons": moons,
    "spiral": spiral,
    "xor": xor,
}.items():
    DATASETS.register(_name)(_fn)

REQUIRED = inspect.Parameter.empty  # the "default" of an option a config must give
_CONTEXT = ("rng",)  # passed by load_dataset, never by a config


def dataset_options(name: str) -> dict[str, Any]:
    """Options a config may give for dataset `name`, in signature order, mapped to their
    defaults (REQUIRED when there is none), e.g. spiral -> {n_per_class: 100, classes: 3,
    noise: 0.2}, file -> {path: REQUIRED, label: None}."""
    params = inspect.signature(DATASETS.get(name)).parameters
    return {key: p.default for key, p in params.items() if key not in _CONTEXT}


def load_dataset(name: str, options: Mapping[str, Any], *, rng: Generator) -> Loaded:
    """Dataset `name` called with `options` (and `rng` when it takes one): (X, y), X float64
    (N, D) and y int64 (N,), to be split as the config says; or, for a dataset that comes with
    a fixed test set (mnist1d), (X_train, y_train, X_test, y_test), whose test part is never
    split. Unknown names and options fail before anything is generated or read."""
    if not isinstance(options, Mapping):
        raise TypeError(f"dataset {name!r} needs a mapping of options, got {options!r}")
    accepted = dataset_options(name)
    if unknown := sorted(set(options) - set(accepted)):
        valid = ", ".join(accepted) or "none"
        raise ValueError(f"{name} got unknown {unknown}; accepted: {valid}")
    if missing := [
        key for key, default in accepted.items() if default is REQUIRED and key not in options
    ]:
        raise ValueError(f"{name} needs option {missing[0]!r}; accepted: {', '.join(accepted)}")
    fn = DATASETS.get(name)
    context = {"rng": rng} if "rng" in inspect.signature(fn).parameters else {}
    return fn(**options, **context)
