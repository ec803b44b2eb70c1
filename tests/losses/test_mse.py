"""MSE: values and gradients by hand for both reductions, the (N, 1) / (N,) case, shape errors."""

import numpy as np
import pytest

from gategraph.losses import LOSSES
from gategraph.losses.mse import MSE

SCORES = np.array([[1.0, 2.0], [3.0, 4.0]])
TARGETS = np.array([[1.0, 0.0], [0.0, 4.0]])  # differences 0, 2, 3, 0


def test_mean_reduction() -> None:
    loss = MSE()
    assert loss.forward(SCORES, TARGETS) == 13.0 / 4
    np.testing.assert_array_equal(loss.backward()[0], [[0.0, 1.0], [1.5, 0.0]])  # 2 (s - y) / 4
    np.testing.assert_array_equal(loss.backward(2.0)[0], [[0.0, 2.0], [3.0, 0.0]])


def test_sum_reduction() -> None:
    loss = MSE(reduction="sum")
    assert loss.forward(SCORES, TARGETS) == 13.0
    np.testing.assert_array_equal(loss.backward()[0], [[0.0, 4.0], [6.0, 0.0]])  # 2 (s - y)


def test_column_scores_take_flat_targets() -> None:
    loss = MSE()
    assert loss.forward(np.array([[1.0], [2.0], [3.0]]), np.zeros(3)) == 14.0 / 3
    dscores = loss.backward()[0]
    assert dscores.shape == (3, 1)
    np.testing.assert_allclose(dscores, [[2 / 3], [4 / 3], [2.0]], rtol=1e-15)


@pytest.mark.parametrize(
    ("scores_shape", "y_shape", "message"),
    [
        (
            (3, 1),
            (3, 3),
            r"MSE expects targets y of the scores' shape \(3, 1\) or \(3,\), got \(3, 3\)",
        ),
        (
            (3, 1),
            (1, 3),
            r"MSE expects targets y of the scores' shape \(3, 1\) or \(3,\), got \(1, 3\)",
        ),
        ((3, 2), (3,), r"MSE expects targets y of the scores' shape \(3, 2\), got \(3,\)"),
    ],
)
def test_shape_mismatch_is_refused(
    scores_shape: tuple[int, ...], y_shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        MSE().forward(np.zeros(scores_shape), np.zeros(y_shape))


def test_non_numeric_targets_are_refused() -> None:
    with pytest.raises(TypeError, match="^MSE expects numeric targets y, got dtype <U1$"):
        MSE().forward(np.zeros(2), np.array(["a", "b"]))


def test_unknown_reduction_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^MSE needs reduction in \['mean', 'sum'\], got 'avg'$"):
        LOSSES.build({"type": "mse", "reduction": "avg"})


def test_dtype_follows_the_scores() -> None:
    loss = MSE()
    loss.forward(SCORES.astype(np.float32), TARGETS)  # float64 targets do not upcast
    assert loss.backward()[0].dtype == np.float32
