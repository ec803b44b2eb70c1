"""Dropout: inverted scaling, masks from the injected Generator, eval identity, freezing."""

import numpy as np
import pytest

from gategraph.layers.base import LAYERS
from gategraph.layers.dropout import Dropout


def _dropout(p: float = 0.5, seed: int = 0) -> Dropout:
    return Dropout(p, rng=np.random.default_rng(seed))


def test_outputs_are_zero_or_scaled_by_one_over_keep_probability() -> None:
    x = np.arange(1.0, 201.0).reshape(10, 20)
    out = _dropout(p=0.75).forward(x)
    kept = out != 0
    np.testing.assert_array_equal(out[kept], 4.0 * x[kept])
    assert 0 < kept.sum() < x.size


def test_the_mask_matches_uniform_draws_of_the_generator() -> None:
    expected = (np.random.default_rng(3).random((4, 5)) >= 0.3) / 0.7
    np.testing.assert_array_equal(_dropout(0.3, seed=3).forward(np.ones((4, 5))), expected)


def test_same_seed_gives_the_same_mask_and_another_seed_a_different_one() -> None:
    x = np.ones((8, 16))
    first, again = _dropout(seed=7).forward(x).copy(), _dropout(seed=7).forward(x)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, _dropout(seed=8).forward(x))


def test_inverted_scaling_preserves_the_mean() -> None:
    out = _dropout(p=0.5, seed=0).forward(np.ones(200_000))
    assert out.mean() == pytest.approx(1.0, abs=0.01)  # std of the mean is 0.0022
    assert (out == 0).mean() == pytest.approx(0.5, abs=0.01)


def test_backward_uses_the_forward_mask() -> None:
    gate = _dropout(p=0.5, seed=1)
    out = gate.forward(np.ones((6, 6))).copy()
    dout = np.arange(36.0).reshape(6, 6)
    np.testing.assert_array_equal(gate.backward(dout), dout * out)


def test_eval_mode_is_the_identity() -> None:
    gate = _dropout(p=0.9).eval()
    x = np.array([[1.0, -2.0, 3.0]])
    np.testing.assert_array_equal(gate.forward(x), x)
    np.testing.assert_array_equal(gate.backward(np.array([[4.0, 5.0, 6.0]])), [[4.0, 5.0, 6.0]])


def test_p_zero_keeps_everything_in_training() -> None:
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(_dropout(p=0.0).forward(x), x)


def test_eval_does_not_consume_randomness() -> None:
    gate, reference = _dropout(seed=5), _dropout(seed=5)
    gate.eval().forward(np.ones(10))
    np.testing.assert_array_equal(gate.train().forward(np.ones(10)), reference.forward(np.ones(10)))


def test_frozen_reuses_the_mask_until_unfrozen() -> None:
    gate = _dropout(seed=2).freeze()
    x = np.ones((5, 8))
    first = gate.forward(x).copy()
    np.testing.assert_array_equal(gate.forward(2 * x), 2 * first)
    gate.clear_cache()  # the frozen mask is not a cache
    np.testing.assert_array_equal(gate.forward(x), first)
    assert not np.array_equal(gate.unfreeze().forward(x), first)


def test_frozen_mask_rejects_another_shape() -> None:
    gate = _dropout().freeze()
    gate.forward(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        gate.forward(np.ones((4, 3)))
    assert str(info.value) == (
        "Dropout is frozen with a float64 mask of shape (2, 3), got x float64 (4, 3); "
        "call unfreeze() first"
    )


def test_example_is_frozen_and_deterministic() -> None:
    gate, x = Dropout.example(np.random.default_rng(0))
    assert gate.frozen and x.dtype == np.float64
    np.testing.assert_array_equal(gate.forward(x).copy(), gate.forward(x))


def test_float32_stays_float32() -> None:
    gate = _dropout()
    assert gate.forward(np.ones((3, 4), np.float32)).dtype == np.float32
    assert gate.backward(np.ones((3, 4), np.float32)).dtype == np.float32


def test_builds_from_a_config_block_with_the_context_rng() -> None:
    gate = LAYERS.build({"type": "dropout", "p": 0.2}, rng=np.random.default_rng(0))
    assert isinstance(gate, Dropout) and gate.p == 0.2


@pytest.mark.parametrize(
    ("p", "rng", "error", "message"),
    [
        (1.0, np.random.default_rng(), ValueError, "Dropout needs 0 <= p < 1, got 1.0"),
        (-0.1, np.random.default_rng(), ValueError, "Dropout needs 0 <= p < 1, got -0.1"),
        (
            "0.5",
            np.random.default_rng(),
            TypeError,
            "Dropout needs p to be a number, got '0.5' (str)",
        ),
        (
            0.5,
            np.random.RandomState(0),
            TypeError,
            "Dropout needs rng to be a numpy Generator, got RandomState",
        ),
        (0.5, None, TypeError, "Dropout needs rng to be a numpy Generator, got NoneType"),
    ],
)
def test_arguments_are_validated(p: object, rng: object, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        Dropout(p, rng=rng)  # type: ignore[arg-type]
    assert str(info.value) == message
