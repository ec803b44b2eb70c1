"""Shared fixtures: every optimizer variant, and a small set of params with mixed decay."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gategraph.core.params import Param

# Every optimizer variant: large weight decay so that decaying a bias by mistake shows.
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "betas": [0.8, 0.95], "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01, "betas": (0.85, 0.99), "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.01, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9, "eps": 1e-6}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.95, "momentum": 0.5, "centered": True}),
    ("adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.2, "eps": 1e-8}),
]


def config_id(config: tuple[str, dict[str, Any]]) -> str:
    name, options = config
    return name + "".join(f"-{k}={v}" for k, v in options.items() if k != "lr")


@pytest.fixture(params=CONFIGS, ids=[config_id(c) for c in CONFIGS])
def config(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param


@pytest.fixture
def make_params() -> Callable[..., list[Param]]:
    """W1 (3, 4), b1 (4,), W2 (4, 2), b2 (2,), biases with decay=False, interleaved so that
    flattening must reorder them (decayed first). Same values on every call."""

    def make(dtype: type = np.float64) -> list[Param]:
        rng = np.random.default_rng(7)
        shapes = [((3, 4), True), ((4,), False), ((4, 2), True), ((2,), False)]
        return [Param(rng.standard_normal(s).astype(dtype), decay=d) for s, d in shapes]

    return make


@pytest.fixture
def make_grads() -> Callable[..., list[list[np.ndarray]]]:
    """Hand-set float64 gradients: one list per step, one array per param."""

    def make(n_steps: int, params: list[Param], seed: int = 1) -> list[list[np.ndarray]]:
        rng = np.random.default_rng(seed)
        return [[rng.standard_normal(p.value.shape) for p in params] for _ in range(n_steps)]

    return make
