"""Constructors reject bad hyper-parameters with one line naming class, key, range and value."""

import inspect
import re

import numpy as np
import pytest
import yaml

from gategraph.core.params import Param
from gategraph.optim import OPTIMIZERS


def params() -> list[Param]:
    return [Param(np.ones(2, np.float32))]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("sgd", {"lr": -1}, "SGD needs lr >= 0, got -1"),
        ("sgd", {"lr": float("nan")}, "SGD needs lr >= 0, got nan"),
        ("sgd", {"lr": 0.1, "weight_decay": -0.1}, "SGD needs weight_decay >= 0, got -0.1"),
        ("sgd", {"lr": 0.1, "momentum": 1.0}, "SGD needs 0 <= momentum < 1, got 1.0"),
        (
            "sgd",
            {"lr": 0.1, "nesterov": True},
            "SGD needs momentum > 0 for nesterov, got momentum 0",
        ),
        ("adam", {"betas": [1.5, 0.999]}, "Adam needs 0 <= betas[0] < 1, got 1.5"),
        ("adam", {"betas": (0.9, -0.1)}, "Adam needs 0 <= betas[1] < 1, got -0.1"),
        ("adam", {"eps": 0.0}, "Adam needs eps > 0, got 0.0"),
        ("adamw", {"betas": [0.9, 1.0]}, "AdamW needs 0 <= betas[1] < 1, got 1.0"),
        ("rmsprop", {"alpha": 1}, "RMSProp needs 0 <= alpha < 1, got 1"),
        ("rmsprop", {"momentum": -0.5}, "RMSProp needs 0 <= momentum < 1, got -0.5"),
        ("adagrad", {"lr_decay": -0.1}, "Adagrad needs lr_decay >= 0, got -0.1"),
        (
            "adagrad",
            {"initial_accumulator_value": -1.0},
            "Adagrad needs initial_accumulator_value >= 0, got -1.0",
        ),
    ],
)
def test_out_of_range_values_raise_value_error(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        OPTIMIZERS.build({"type": name, **options}, params=params())


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("sgd", {"lr": "1e-3"}, "SGD needs lr to be a number, got '1e-3' (str)"),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": "no"}, "SGD needs nesterov to be true"),
        ("adam", {"betas": 0.9}, "Adam needs betas as a list of two numbers, got 0.9"),
        ("adam", {"betas": [0.9, 0.99, 0.999]}, "Adam needs betas as a list of two numbers"),
        ("adam", {"betas": [0.9, "0.99"]}, "Adam needs betas[1] to be a number, got '0.99'"),
        ("rmsprop", {"centered": 1}, "RMSProp needs centered to be true or false, got 1"),
    ],
)
def test_wrong_kinds_raise_type_error(name: str, options: dict, message: str) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(message)}"):
        OPTIMIZERS.build({"type": name, **options}, params=params())


def test_no_params_is_an_error() -> None:
    with pytest.raises(ValueError, match="^Adam got no params to optimize$"):
        OPTIMIZERS.build({"type": "adam"}, params=[])


def test_yaml_config_builds_with_betas_as_a_list() -> None:
    spec = yaml.safe_load("{type: adam, lr: 0.002, betas: [0.8, 0.9], weight_decay: 0.001}")
    optimizer = OPTIMIZERS.build(spec, params=params())
    assert (optimizer.lr, optimizer.betas, optimizer.weight_decay) == (0.002, (0.8, 0.9), 0.001)


def test_unknown_option_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"'adam' got unknown \['beta'\]; accepted: lr, "):
        OPTIMIZERS.build({"type": "adam", "beta": [0.9, 0.9]}, params=params())


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_first_parameter_is_named_params(name: str) -> None:
    assert next(iter(inspect.signature(OPTIMIZERS.get(name)).parameters)) == "params"
    assert OPTIMIZERS.get(name)(params=params(), lr=0.1).values.dtype == np.float32
