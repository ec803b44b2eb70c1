"""LeakyReLU: hand-computed values, the slope at the kink, alpha validation."""

import numpy as np
import pytest

from gategraph.layers.leaky_relu import LeakyReLU


def test_forward_matches_hand_computed_values() -> None:
    out = LeakyReLU(alpha=0.1).forward(np.array([[-2.0, 0.0], [0.5, 3.0]]))
    np.testing.assert_allclose(out, [[-0.2, 0.0], [0.5, 3.0]], rtol=1e-15)


def test_default_alpha_is_one_hundredth() -> None:
    np.testing.assert_allclose(LeakyReLU().forward(np.array([-5.0])), [-0.05], rtol=1e-15)


def test_backward_scales_negative_side_and_kink_by_alpha() -> None:
    gate = LeakyReLU(alpha=0.25)
    gate.forward(np.array([-2.0, 0.0, 1.0]))
    np.testing.assert_array_equal(gate.backward(np.array([4.0, 8.0, 2.0])), [1.0, 2.0, 2.0])


def test_float32_stays_float32() -> None:
    gate = LeakyReLU()
    assert gate.forward(np.array([-1.0, 1.0], np.float32)).dtype == np.float32
    assert gate.backward(np.ones(2, np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("alpha", "error", "message"),
    [
        (1.0, ValueError, "LeakyReLU needs 0 <= alpha < 1, got 1.0"),
        (-0.1, ValueError, "LeakyReLU needs 0 <= alpha < 1, got -0.1"),
        ("0.1", TypeError, "LeakyReLU needs alpha to be a number, got '0.1' (str)"),
        (float("nan"), ValueError, "LeakyReLU needs a finite alpha, got nan"),
    ],
)
def test_alpha_is_validated(alpha: object, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        LeakyReLU(alpha=alpha)  # type: ignore[arg-type]
    assert str(info.value) == message
