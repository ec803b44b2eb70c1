"""Initializers: the standard deviations of He, Xavier and normal, fans, seeds, errors."""

import math

import numpy as np
import pytest

from gategraph.layers.affine import Affine
from gategraph.layers.init import INITIALIZERS


def _std(name: str, shape: tuple[int, ...], scale: float = 0.01) -> float:
    W = INITIALIZERS.get(name)(np.random.default_rng(0), shape, scale)
    assert W.shape == shape
    assert abs(W.mean()) < 0.01 * W.std()
    return float(W.std())


# 500k samples: the sample std is within 0.1% of the true one (one sigma); allow 1%.
@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("he", (1000, 500), math.sqrt(2 / 1000)),
        ("xavier", (400, 1250), math.sqrt(2 / 1650)),
        ("glorot", (400, 1250), math.sqrt(2 / 1650)),
        ("he", (50, 40, 5, 5), math.sqrt(2 / (40 * 25))),  # conv W (F, C, kh, kw)
        ("xavier", (50, 40, 5, 5), math.sqrt(2 / (40 * 25 + 50 * 25))),
    ],
)
def test_standard_deviation_follows_the_fans(
    name: str, shape: tuple[int, ...], expected: float
) -> None:
    assert _std(name, shape) == pytest.approx(expected, rel=0.01)


def test_normal_uses_the_given_scale() -> None:
    assert _std("normal", (1000, 500), scale=0.05) == pytest.approx(0.05, rel=0.01)


def test_affine_init_and_init_scale_reach_the_weights() -> None:
    layer = Affine(1000, 500, rng=np.random.default_rng(0), init="normal", init_scale=0.1)
    assert float(layer.params["W"].value.std()) == pytest.approx(0.1, rel=0.01)
    layer = Affine(1000, 500, rng=np.random.default_rng(0), init="xavier")
    assert float(layer.params["W"].value.std()) == pytest.approx(math.sqrt(2 / 1500), rel=0.01)


def test_same_seed_gives_the_same_weights_bit_for_bit() -> None:
    first = Affine(5, 4, rng=np.random.default_rng(3)).params["W"].value
    again = Affine(5, 4, rng=np.random.default_rng(3)).params["W"].value
    other = Affine(5, 4, rng=np.random.default_rng(4)).params["W"].value
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_unknown_init_names_the_closest_and_the_valid_ones() -> None:
    with pytest.raises(ValueError) as info:
        Affine(3, 2, rng=np.random.default_rng(0), init="hee")
    valid = ", ".join(INITIALIZERS.names())
    assert str(info.value) == f"unknown initializer 'hee' (did you mean 'he'?); valid: {valid}"
    assert {"he", "xavier", "glorot", "normal"} <= set(INITIALIZERS.names())
