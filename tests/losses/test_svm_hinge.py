"""SVMHinge: CS231n's three-image example by hand, the kink, the margin option, labels."""

import numpy as np
import pytest

from gategraph.losses import LOSSES
from gategraph.losses.svm_hinge import SVMHinge

# CS231n "Loss functions and optimization": cat, car and frog images, classes (cat, car, frog)
SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LABELS = np.array([0, 1, 2])


def test_forward_matches_the_lecture_losses() -> None:
    # per image: max(0, 5.1-3.2+1) = 2.9;  0;  (2.2+3.1+1) + (2.5+3.1+1) = 12.9
    assert SVMHinge().forward(SCORES, LABELS) == pytest.approx((2.9 + 0.0 + 12.9) / 3)


def test_backward_counts_active_margins() -> None:
    loss = SVMHinge()
    loss.forward(SCORES, LABELS)
    expected = np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -2.0]]) / 3
    np.testing.assert_allclose(loss.backward()[0], expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(loss.backward(0.5)[0], expected * 0.5, rtol=0, atol=1e-15)


def test_example_keeps_every_margin_off_the_kink() -> None:
    for seed in range(20):
        loss, (scores, y) = SVMHinge.example(np.random.default_rng(seed))
        margins = scores - scores[np.arange(len(y)), y][:, None] + loss.margin
        off_label = np.arange(scores.shape[1]) != y[:, None]
        assert np.abs(margins[off_label]).min() > 1e-3
        assert 0 < (margins[off_label] > 0).mean() < 1  # both sides of the hinge are exercised


def test_margin_exactly_zero_counts_as_inactive() -> None:
    loss = SVMHinge()
    assert loss.forward(np.array([[1.0, 0.0]]), np.array([0])) == 0.0  # 0 - 1 + 1 = 0
    np.testing.assert_array_equal(loss.backward()[0], [[0.0, 0.0]])


def test_margin_option() -> None:
    loss = SVMHinge(margin=2.0)
    # max(0, 5.1 - 3.2 + 2) + max(0, -1.7 - 3.2 + 2) = 3.9
    assert loss.forward(SCORES[:1], LABELS[:1]) == pytest.approx(3.9)
    assert LOSSES.build({"type": "svm_hinge", "margin": 0.5}).margin == 0.5


@pytest.mark.parametrize(
    ("margin", "error", "message"),
    [
        (-1.0, ValueError, "SVMHinge needs margin >= 0, got -1.0"),
        (float("nan"), ValueError, "SVMHinge needs margin >= 0, got nan"),
        ("1", TypeError, "SVMHinge needs margin to be a number, got '1' \\(str\\)"),
        (True, TypeError, "SVMHinge needs margin to be a number, got True \\(bool\\)"),
    ],
)
def test_bad_margin_is_refused(margin: object, error: type, message: str) -> None:
    with pytest.raises(error, match=f"^{message}$"):
        SVMHinge(margin=margin)  # type: ignore[arg-type]


def test_bad_class_id_is_named() -> None:
    with pytest.raises(ValueError, match=r"^SVMHinge expects class ids in \[0, 3\), got 7$"):
        SVMHinge().forward(SCORES, np.array([0, 7, 1]))


def test_dtype_follows_the_scores() -> None:
    loss = SVMHinge()
    loss.forward(SCORES.astype(np.float32), LABELS)
    assert loss.backward()[0].dtype == np.float32


def test_backward_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match="SVMHinge.backward called before forward"):
        SVMHinge().backward()
