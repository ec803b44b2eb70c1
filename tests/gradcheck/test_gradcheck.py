"""The gradient checker: broken gates are caught and named, kinks are told from bugs, contracts."""

from typing import Any

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.gradcheck.check import (
    Options,
    check_graph,
    check_layer,
    check_loss,
    check_model,
    gradcheck,
)
from gategraph.layers.affine import Affine
from gategraph.layers.base import Layer
from gategraph.layers.batch_norm import BatchNorm
from gategraph.layers.layer_norm import LayerNorm
from gategraph.layers.relu import ReLU
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.graph import ComputationalGraph
from gategraph.models.sequential import Sequential

# ---- test-only gates: one correct, then one broken in each way a backward goes wrong ---------


class Cube(Layer):
    """out = x³, dx = 3 x² dout."""

    _x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x**3

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return 3 * self._cached(self._x) ** 2 * dout


class FlippedCube(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        return -super().backward(dout)


class OneWrongEntry(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = super().backward(dout)
        dx[1, 2] += 0.5
        return dx


class FlatGradient(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        return super().backward(dout).ravel()


class Float32Gradient(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        return super().backward(dout).astype(np.float32)


class SquaresDout(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        return super().backward(dout) * np.abs(dout)


class ModifiesDout(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout *= 3 * self._cached(self._x) ** 2  # right values, but in the caller's array
        return dout


class ModifiesCache(Cube):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = super().backward(dout)
        self._x *= 1.5
        return dx


class Accumulates(Cube):
    """Adds each backward into one array: right the first time, twice as big the second."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.total = np.zeros_like(x)
        return super().forward(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.total += super().backward(dout)
        return self.total


class Noisy(Layer):
    """out = x + noise, a new noise every forward."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.rng, self.noise, self.frozen = rng, None, False

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.noise is None or not self.frozen:
            self.noise = self.rng.standard_normal(x.shape)
        return x + self.noise

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


class FreezableNoisy(Noisy):
    def freeze(self) -> None:
        self.frozen = True


class Plus(Layer):
    """out = x + y, two inputs of one shape."""

    n_inputs = 2

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x + y

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dout, dout


class PlusOneGradient(Plus):
    def backward(self, dout: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return dout


class PlusNoGradientForY(Plus):
    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, None]:  # type: ignore[override]
        return dout, None


class ReLUReturnsTuple(ReLU):
    def backward(self, dout: np.ndarray) -> tuple[np.ndarray]:  # type: ignore[override]
        return (super().backward(dout),)


class ReLUReturnsNone(ReLU):
    def backward(self, dout: np.ndarray) -> None:  # type: ignore[override]
        return None


class KinkyReLU(Layer):
    """ReLU whose gradient at x = 0 is `at_zero` * dout (0 is the usual subgradient)."""

    _x: np.ndarray | None = None

    def __init__(self, at_zero: float) -> None:
        super().__init__()
        self.at_zero = at_zero

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return np.maximum(x, 0.0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached(self._x)
        return dout * np.where(x == 0, self.at_zero, x > 0)


def _off(gate: type[Layer], factor: float, entry: tuple[int, ...] | None = None) -> type[Layer]:
    """`gate` whose dx is scaled by `factor`, everywhere or at one entry."""

    class Off(gate):  # type: ignore[misc, valid-type]
        def backward(self, dout: np.ndarray) -> np.ndarray:
            dx = np.array(super().backward(dout), copy=True)
            dx[... if entry is None else entry] *= factor
            return dx

    Off.__name__ = f"{gate.__name__}Off"
    return Off


def _affine_backward(layer: Affine, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, W) for a broken Affine to build its own backward from."""
    return layer._cached(layer._x), layer.params["W"].value


class AffineNoTranspose(Affine):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, W = _affine_backward(self, dout)
        np.matmul(x.T, dout, out=self.params["W"].grad)
        np.sum(dout, axis=0, out=self.params["b"].grad)
        return dout @ W  # should be dout @ W.T


class AffineDoubleBias(Affine):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = super().backward(dout)
        self.params["b"].grad *= 2.0
        return dx


class AffineAddsToGrad(Affine):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, W = _affine_backward(self, dout)
        self.params["W"].grad += x.T @ dout
        self.params["b"].grad[...] = dout.sum(axis=0)
        return dout @ W.T


class AffineRebindsGrad(Affine):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, W = _affine_backward(self, dout)
        self.params["W"].grad = x.T @ dout
        self.params["b"].grad[...] = dout.sum(axis=0)
        return dout @ W.T


class LossIgnoresDout(SoftmaxCrossEntropy):
    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:
        return super().backward(1.0)


class LossMissingMean(SoftmaxCrossEntropy):
    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, None]:
        dscores, _ = super().backward(dout)
        return dscores * len(self._cached(self._probs)), None


def _x(seed: int = 0, shape: tuple[int, ...] = (4, 5)) -> np.ndarray:
    """Inputs at least 0.1 away from 0 (the kink of the ReLU-like gates)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)


def _row(result, tensor: str):
    (row,) = [r for r in result.rows if r.tensor == tensor]
    return row


# ---- broken backward is caught and named -------------------------------------------------------


def test_a_correct_gate_passes_with_errors_near_rounding() -> None:
    result = check_layer(Cube(), _x(), np.random.default_rng(0))
    assert result.ok and not result.kinks and not result.problems
    assert 0 < result.max_error < 1e-8
    assert _row(result, "input 0 (x)").checked == 20


def test_a_flipped_sign_is_caught_and_the_report_names_layer_and_tensor() -> None:
    with pytest.raises(AssertionError) as caught:
        check_layer(FlippedCube(), _x(), np.random.default_rng(0))
    report = str(caught.value)
    assert report.splitlines()[0].startswith("gradcheck of FlippedCube: FAILED")
    assert "input 0 (x)" in report and "FAIL" in report


def test_the_report_names_the_worst_index_with_its_values() -> None:
    x, rng = _x(), np.random.default_rng(0)
    result = gradcheck(OneWrongEntry(), x, rng)
    row = _row(result, "input 0 (x)")
    dout = np.random.default_rng(0).standard_normal(x.shape)  # the check's first draw
    true = 3 * x[1, 2] ** 2 * dout[1, 2]
    assert not result.ok and row.index == (1, 2) and row.where == "(1, 2)"
    assert row.analytic == pytest.approx(true + 0.5, abs=1e-12)
    assert row.numeric == pytest.approx(true, rel=1e-8)
    assert row.max_error == pytest.approx(0.5 / max(abs(2 * true + 0.5), 0.1), rel=1e-6)
    assert "(1, 2)" in str(result)


def test_a_missing_transpose_in_an_affine_is_caught_in_dx_only() -> None:
    rng, twin = np.random.default_rng(1), np.random.default_rng(1)
    layer, x = AffineNoTranspose(3, 3, rng=rng, dtype=np.float64), rng.standard_normal((4, 3))
    AffineNoTranspose(3, 3, rng=twin), twin.standard_normal((4, 3))
    dout = twin.standard_normal((4, 3))  # the check's first draw from rng
    result = gradcheck(layer, x, rng)
    assert [r.ok for r in result.rows] == [False, True, True]  # x fails; W and b pass
    assert "AffineNoTranspose: FAILED" in str(result) and "input 0 (x)" in str(result)
    W = layer.params["W"].value
    wrong, right = dout @ W, dout @ W.T
    err = np.abs(wrong - right) / np.maximum(np.abs(wrong) + np.abs(right), 0.1)
    row = _row(result, "input 0 (x)")
    assert row.index == np.unravel_index(np.argmax(err), err.shape)
    assert row.max_error == pytest.approx(err.max(), rel=1e-6)


def test_a_wrong_factor_on_one_param_names_that_param() -> None:
    rng = np.random.default_rng(2)
    layer = AffineDoubleBias(3, 2, rng=rng, dtype=np.float64)
    result = gradcheck(layer, rng.standard_normal((4, 3)), rng)
    assert [(r.tensor, r.ok) for r in result.rows] == [
        ("input 0 (x)", True),
        ("param W", True),
        ("param b", False),
    ]
    assert _row(result, "param b").max_error == pytest.approx(1 / 3, rel=1e-6)  # |2a - a| / 3|a|


def test_a_broken_loss_is_named_by_its_scores() -> None:
    rng = np.random.default_rng(3)
    scores, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    with pytest.raises(AssertionError, match=r"LossMissingMean: FAILED[\s\S]*input 0 \(scores\)"):
        check_loss(LossMissingMean(), scores, y, rng)
    result = check_loss(SoftmaxCrossEntropy(), scores, y, rng)
    assert [r.tensor for r in result.rows] == ["input 0 (scores)"]
    assert "no gradient, not checked: input 1 (y)" in result.notes


# ---- graphs ----------------------------------------------------------------------------------


def _mlp_graph(fc2: Affine, act: Layer, rng: np.random.Generator) -> ComputationalGraph:
    """x -> fc1 -> act -> fc2 -> loss(., y), declared downstream-first so that the order the
    graph runs its nodes differs from the order they were added."""
    g = ComputationalGraph()
    g.add(SoftmaxCrossEntropy(), "fc2", "y", name="loss")
    g.add(fc2, "act", name="fc2")
    g.add(act, "fc1", name="act")
    g.add(Affine(4, 5, rng=rng, dtype=np.float64), "x", name="fc1")
    g.input("x")
    g.input("y", grad=False)
    g.output("loss")
    return g


def _graph_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((6, 4)), "y": rng.integers(0, 3, 6)}


def test_a_correct_graph_passes_and_checks_inputs_and_params() -> None:
    rng = np.random.default_rng(4)
    graph = _mlp_graph(Affine(5, 3, rng=rng, dtype=np.float64), ReLU(), rng)
    result = check_graph(graph, _graph_inputs(rng), rng)
    tensors = ["input x", "param fc1.W", "param fc1.b", "param fc2.W", "param fc2.b"]
    assert [r.tensor for r in result.rows] == tensors
    assert result.first_wrong is None and result.max_error < 1e-8


def test_a_broken_gate_in_a_graph_is_named_as_the_first_wrong_gate() -> None:
    rng = np.random.default_rng(5)
    graph = _mlp_graph(AffineDoubleBias(5, 3, rng=rng, dtype=np.float64), ReLU(), rng)
    result = gradcheck(graph, _graph_inputs(rng), rng)
    assert not result.ok and result.first_wrong is not None
    assert result.first_wrong.target == "node 'fc2' (AffineDoubleBias)"
    assert _row(result.first_wrong, "param b").max_error == pytest.approx(1 / 3, rel=1e-6)
    assert "first wrong gate: node 'fc2' (AffineDoubleBias)" in str(result)


def test_the_first_wrong_gate_is_first_in_running_order_not_insertion_order() -> None:
    rng = np.random.default_rng(5)
    # fc2 was added before act, but act runs first: both are broken, act must be named
    graph = _mlp_graph(AffineDoubleBias(5, 3, rng=rng, dtype=np.float64), FlippedCube(), rng)
    with pytest.raises(AssertionError, match=r"first wrong gate: node 'act' \(FlippedCube\)"):
        check_graph(graph, _graph_inputs(rng), rng)


def test_a_graph_wrong_between_correct_gates_says_so() -> None:
    class DoublingGraph(ComputationalGraph):
        def backward(self, dout: Any = None) -> dict[str, Any]:
            return {k: 2 * v for k, v in super().backward(dout).items()}

    rng = np.random.default_rng(21)
    g = DoublingGraph()
    g.input("x")
    g.add(Affine(3, 2, rng=rng, dtype=np.float64), "x", name="fc")
    result = gradcheck(g, {"x": rng.standard_normal((4, 3))}, rng)
    assert [r.tensor for r in result.failures()] == ["input x"] and result.first_wrong is None
    assert result.culprit_note.startswith("every gate passes on its own")


def test_a_graph_with_a_fork_and_a_two_input_gate_passes() -> None:
    rng = np.random.default_rng(6)
    g = ComputationalGraph()
    g.input("x")
    g.add(Affine(4, 4, rng=rng, dtype=np.float64), "x", name="fc")
    g.add(Cube(), "fc", name="cube")
    g.add(Plus(), "cube", "fc", name="plus")  # fc fans out: its gradients must be added
    result = check_graph(g, {"x": rng.standard_normal((3, 4))}, rng)
    assert [r.tensor for r in result.rows] == ["input x", "param fc.W", "param fc.b"]


def test_a_float32_model_is_checked_on_a_float64_copy_and_left_untouched() -> None:
    rng = np.random.default_rng(7)
    model = Sequential([Affine(4, 6, rng=rng), ReLU(), Affine(6, 2, rng=rng)])
    x = rng.standard_normal((5, 4)).astype(np.float32)
    values = {k: p.value.copy() for k, p in model.params().items()}
    result = check_model(model, x, rng)
    assert result.max_error < 1e-8  # far below float32's resolution: computed in float64
    assert any("float64" in n and "affine0 (float32)" in n for n in result.notes)
    assert "input x was float32: checked in float64" in result.notes
    for key, p in model.params().items():
        assert p.value.dtype == np.float32 and np.array_equal(p.value, values[key])
        assert not p.grad.any()


# ---- kinks ---------------------------------------------------------------------------------


def test_relu_at_exactly_zero_is_a_kink_not_a_failure() -> None:
    x = _x()
    x[1, 2] = 0.0
    result = check_layer(ReLU(), x, np.random.default_rng(8))
    dout = np.random.default_rng(8).standard_normal(x.shape)
    (kink,) = result.kinks
    assert kink.index == (1, 2) and kink.inside and kink.analytic == 0.0
    assert sorted([kink.left, kink.right]) == pytest.approx(sorted([0.0, dout[1, 2]]))
    assert _row(result, "input 0 (x)").kinks == 1 and "kink" in str(result)


def test_an_analytic_value_outside_the_one_sided_slopes_is_a_failure() -> None:
    x = _x()
    x[1, 2] = 0.0
    result = gradcheck(KinkyReLU(at_zero=2.0), x, np.random.default_rng(8))
    (kink,) = result.kinks
    assert not kink.inside and not result.ok
    assert _row(result, "input 0 (x)").index == (1, 2)
    assert "OUTSIDE" in str(result)
    # a quarter of the way between the slopes 0 and dout is a subgradient: a kink, inside
    assert check_layer(KinkyReLU(at_zero=0.25), x, np.random.default_rng(8)).kinks[0].inside
    # halfway is the centered difference itself: not even a kink
    assert not check_layer(KinkyReLU(at_zero=0.5), x, np.random.default_rng(8)).kinks


@pytest.mark.parametrize("off", [1e-6, 1e-5])
def test_a_smooth_gate_with_a_small_error_is_excused_neither_as_kink_nor_refined(
    off: float,
) -> None:
    result = gradcheck(_off(Cube, 1 + off)(), _x(), np.random.default_rng(0))
    row = _row(result, "input 0 (x)")
    assert not result.ok and not result.kinks and not row.refined
    assert row.max_error == pytest.approx(off / (2 + off), rel=1e-3)  # |a - n| / (|a| + |n|)
    assert not any(n.startswith("refined") for n in result.notes)


def test_one_entry_off_by_a_thousandth_fails_at_that_entry() -> None:
    result = gradcheck(_off(Cube, 1 + 1e-3, (2, 3))(), _x(), np.random.default_rng(0))
    row = _row(result, "input 0 (x)")
    assert not result.ok and row.index == (2, 3) and not row.refined and not result.kinks


# ---- refined estimates: a kink a hair away, a curvature scale near h -----------------------


class ThresholdReLU(KinkyReLU):
    """Takes the slope `at_zero` for |x| < 1e-5 (= h): wrong a hair from the kink."""

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached(self._x)
        return dout * np.where(np.abs(x) < 1e-5, self.at_zero, x > 0)


class CountingCube(Cube):
    """Counts forwards, on the class: the check runs a deep copy."""

    forwards = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        type(self).forwards += 1
        return super().forward(x)


def _refined_note(result) -> str:
    (note,) = [n for n in result.notes if n.startswith("refined estimate needed")]
    return note


def test_a_kink_a_hair_from_the_input_passes_on_the_step_h_over_16() -> None:
    """f = dout·relu(x): D(h) at x = 3e-6 is 0.65 dout (error 0.21); D(h/16) is exact."""
    x = np.array([3e-6, -5e-6, 9e-6, -1.0, 2.0])
    result = check_layer(ReLU(), x, np.random.default_rng(22))
    dout = np.random.default_rng(22).standard_normal(5)
    row = _row(result, "input 0 (x)")
    assert row.refined == ("(0,)", "(1,)", "(2,)") and not result.kinks
    assert "ReLU input 0 (x) at (0,), (1,), (2,)" in _refined_note(result)
    assert "ok (3 refined)" in str(result)
    alone = _row(check_layer(ReLU(), x[:1], np.random.default_rng(22)), "input 0 (x)")
    assert alone.numeric == pytest.approx(dout[0], rel=1e-9)  # the estimate that agreed


def test_a_kink_closer_than_h_over_16_is_a_kink_bracketed_at_h_over_16() -> None:
    """x = 1e-7: left slope at h/16 = 6.25e-7 is dout·1e-7 / 6.25e-7 = 0.16 dout, right dout."""
    result = check_layer(ReLU(), np.array([1e-7, 2.0]), np.random.default_rng(23))
    dout = np.random.default_rng(23).standard_normal(2)
    (kink,) = result.kinks
    assert kink.index == (0,) and kink.inside and kink.analytic == dout[0]
    assert [kink.left, kink.right] == pytest.approx([0.16 * dout[0], dout[0]], rel=1e-6)
    assert not _row(result, "input 0 (x)").refined


@pytest.mark.parametrize(("at_zero", "x0"), [(0.5, 1e-6), (0.0, 3e-6), (0.0, 1e-7)])
def test_a_wrong_slope_a_hair_from_a_kink_still_fails(at_zero: float, x0: float) -> None:
    """At x = 1e-6, 0.5 dout lies between the one-sided slopes at h (0.1 and 1 dout), but at
    h/16 those agree: x is smooth there and the slope is dout. At 1e-7 the kink is real, but
    0 lies outside the slopes at h/16, [0.16, 1] dout."""
    result = gradcheck(ThresholdReLU(at_zero), np.array([x0, -1.0, 2.0]), np.random.default_rng(24))
    row = _row(result, "input 0 (x)")
    assert not result.ok and row.index == (0,) and not row.refined
    assert all(not kink.inside for kink in result.kinks)


def _flat_row() -> np.ndarray:
    return np.array([[0.0, 0.0, 0.0076, 0.0]])


@pytest.mark.parametrize(
    ("layer", "x"),
    [
        (LayerNorm(2, dtype=np.float64), np.zeros((3, 2))),
        (BatchNorm(2, dtype=np.float64), np.zeros((4, 2))),
        (LayerNorm(4, dtype=np.float64), _flat_row()),  # D(h/16) fails here: Richardson
    ],
)
def test_norm_layers_at_flat_features_pass_on_a_refined_estimate(
    layer: Layer, x: np.ndarray
) -> None:
    for mode in ("full", "fast"):
        result = check_layer(layer, x, np.random.default_rng(25), mode=mode)
        row = _row(result, "input 0 (x)")
        assert row.refined and row.max_error <= 1e-7 and not result.kinks
        assert f"{type(layer).__name__} input 0 (x) at " in _refined_note(result)


def test_the_refined_estimate_matches_the_hand_derived_layer_norm_gradient() -> None:
    """x = 0, gamma = 1: x̂ = 0, so dx = (dout - mean(dout)) / sqrt(eps), row by row."""
    x = np.zeros((3, 2))
    result = check_layer(LayerNorm(2, dtype=np.float64), x, np.random.default_rng(26))
    dout = np.random.default_rng(26).standard_normal(x.shape)
    dx = (dout - dout.mean(axis=1, keepdims=True)) / np.sqrt(1e-5)
    row = _row(result, "input 0 (x)")
    assert len(row.refined) == 6 and "and 1 more" in _refined_note(result)
    assert row.numeric == pytest.approx(dx[row.index], rel=1e-9)


@pytest.mark.parametrize("norm", [LayerNorm, BatchNorm])
@pytest.mark.parametrize("x", [np.zeros((3, 4)), np.tile(_flat_row(), (3, 1))])
def test_small_errors_at_flat_features_are_still_caught(norm: type, x: np.ndarray) -> None:
    rng = np.random.default_rng(27)
    everywhere = gradcheck(_off(norm, 1 + 1e-5)(4, dtype=np.float64), x, rng)
    assert not everywhere.ok and not everywhere.kinks
    assert not _row(everywhere, "input 0 (x)").refined
    one = gradcheck(_off(norm, 1 + 1e-3, (1, 2))(4, dtype=np.float64), x, rng)
    row = _row(one, "input 0 (x)")
    assert not one.ok and row.index == (1, 2) and "(1, 2)" not in row.refined


def test_only_failing_coordinates_cost_more_than_two_forwards() -> None:
    def forwards(gate: type[CountingCube], shape: tuple[int, int]) -> int:
        gate.forwards = 0
        gradcheck(gate(), _x(shape=shape), np.random.default_rng(28))
        return gate.forwards

    small = forwards(CountingCube, (4, 5))
    assert forwards(CountingCube, (4, 6)) - small == 2 * 4  # 4 more passing coordinates
    one_wrong = _off(CountingCube, 1 + 1e-3, (2, 3))
    assert forwards(one_wrong, (4, 5)) - small == 6  # h/2, h/4 and h/16 for the wrong one


# ---- contracts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (FlatGradient(), "input 0 (x): gradient of shape (20,), expected (4, 5)"),
        (Float32Gradient(), "input 0 (x): gradient of dtype float32, expected float64"),
        (SquaresDout(), "backward is not linear in dout"),
        (ModifiesDout(), "backward modified dout"),
        (ModifiesCache(), "backward modified input 0 (x)"),
        (Accumulates(), "backward is not repeatable"),
        (Noisy(np.random.default_rng(0)), "forward is not deterministic"),
    ],
)
def test_each_broken_contract_is_reported(gate: Layer, message: str) -> None:
    result = gradcheck(gate, _x(), np.random.default_rng(9))
    assert not result.ok
    assert any(message in p for p in result.problems), result.problems


def test_contract_breaks_with_right_values_still_fail() -> None:
    """dout modified in place and a non-repeatable backward give right first values."""
    for gate in (ModifiesDout(), Accumulates()):
        result = gradcheck(gate, _x(), np.random.default_rng(9))
        assert all(r.ok for r in result.rows) and result.problems and not result.ok


def test_param_grads_must_be_written_in_place_and_whole() -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 3))
    adds = gradcheck(AffineAddsToGrad(3, 2, rng=rng, dtype=np.float64), x, rng)
    assert any("6 of 6 entries of param W's grad unwritten" in p for p in adds.problems)
    rebinds = gradcheck(AffineRebindsGrad(3, 2, rng=rng, dtype=np.float64), x, rng)
    assert any("rebound param W's Param.grad" in p for p in rebinds.problems)


def test_a_loss_must_scale_its_gradient_by_dout() -> None:
    rng = np.random.default_rng(11)
    result = gradcheck(LossIgnoresDout(), (rng.standard_normal((5, 4)), rng.integers(0, 4, 5)), rng)
    assert all(r.ok for r in result.rows)  # right at dout = 1 ...
    assert any("not linear in dout" in p for p in result.problems)  # ... but not at 2


def test_a_multi_input_gate_must_return_one_gradient_per_input() -> None:
    rng = np.random.default_rng(12)
    inputs = (rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    result = check_layer(Plus(), inputs, rng)
    assert [r.tensor for r in result.rows] == ["input 0 (x)", "input 1 (y)"]
    broken = gradcheck(PlusOneGradient(), inputs, rng)
    assert broken.problems == [
        "backward returned one array for 2 inputs: return a tuple, one gradient per input"
    ]
    short = gradcheck(PlusNoGradientForY(), inputs, rng)  # None on purpose: not checked
    assert short.ok and [r.tensor for r in short.rows] == ["input 0 (x)"]
    assert "no gradient, not checked: input 1 (y)" in short.notes


def test_a_single_input_gate_returns_dx_itself() -> None:
    rng = np.random.default_rng(12)
    wrapped = gradcheck(ReLUReturnsTuple(), _x(), rng)
    assert wrapped.problems == ["backward returned a tuple for 1 input: return dx itself"]
    missing = gradcheck(ReLUReturnsNone(), _x(), rng)
    assert missing.problems == ["backward returned None for input 0 (x)"]


def test_a_loss_returns_no_gradient_for_its_labels() -> None:
    rng = np.random.default_rng(12)
    scores, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    result = check_loss(SoftmaxCrossEntropy(), scores, y, rng)
    assert [r.tensor for r in result.rows] == ["input 0 (scores)"]
    assert "no gradient, not checked: input 1 (y)" in result.notes


def test_a_layer_with_freeze_is_frozen_for_the_check() -> None:
    gate = FreezableNoisy(np.random.default_rng(0))
    result = check_layer(gate, _x(), np.random.default_rng(13))
    assert "frozen with freeze() for the check: FreezableNoisy" in result.notes
    assert not gate.frozen  # the copy was frozen, not the layer passed in


def test_the_checked_object_is_never_modified() -> None:
    rng = np.random.default_rng(14)
    layer = Affine(3, 2, rng=rng, dtype=np.float64)
    W = layer.params["W"].value.copy()
    x = rng.standard_normal((4, 3))
    x_before = x.copy()
    check_layer(layer, x, rng)
    assert np.array_equal(layer.params["W"].value, W) and np.array_equal(x, x_before)
    assert layer._x is None and not layer.params["W"].grad.any()


# ---- modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "sparse", "fast"])
def test_every_mode_catches_a_broken_gate(mode: str) -> None:
    rng = np.random.default_rng(15)
    layer = AffineDoubleBias(6, 4, rng=rng, dtype=np.float64)
    result = gradcheck(layer, rng.standard_normal((5, 6)), rng, mode=mode, k=3, directions=2)
    assert not result.ok and [r.tensor for r in result.failures()] == ["param b"]
    checked = {"full": 4, "sparse": 3, "fast": 2}[mode]
    assert _row(result, "param b").checked == checked
    assert _row(result, "param W").checked == {"full": 24}.get(mode, checked)
    screen = f"mode {mode} is a screen: run mode full to see every coordinate"
    assert (screen in result.notes) == (mode != "full")


def test_fast_mode_reports_the_direction_and_catches_one_small_wrong_entry() -> None:
    result = gradcheck(_off(Cube, 1 + 1e-3, (2, 3))(), _x(), np.random.default_rng(16), mode="fast")
    row = _row(result, "input 0 (x)")
    assert not row.ok and row.index is None and row.where.startswith("direction ")


@pytest.mark.parametrize("mode", ["sparse", "fast"])
def test_sparse_and_fast_draw_from_the_generator(mode: str) -> None:
    def run(seed: int):
        rng = np.random.default_rng(seed)
        return gradcheck(OneWrongEntry(), _x(), rng, mode=mode, k=4), rng.random()

    (a, after_a), (b, after_b) = run(17), run(17)
    assert a.rows == b.rows and after_a == after_b  # same seed: same coordinates, same stream
    fresh = np.random.default_rng(17)
    fresh.standard_normal((4, 5))  # dout only
    assert after_a != fresh.random()  # the coordinates or directions came from rng too
    rows = {run(seed)[0].rows[0].where for seed in range(6)}
    assert len(rows) > 1  # other seeds probe elsewhere


# ---- options and usage errors ------------------------------------------------------------


def test_options_are_validated_with_clear_messages() -> None:
    rng = np.random.default_rng(18)
    with pytest.raises(ValueError, match="mode must be one of full, sparse, fast, got 'slow'"):
        gradcheck(Cube(), _x(), rng, mode="slow")
    with pytest.raises(ValueError, match="needs a finite h > 0, got 0"):
        gradcheck(Cube(), _x(), rng, h=0)
    with pytest.raises(ValueError, match="needs k to be a positive integer, got 0"):
        gradcheck(Cube(), _x(), rng, mode="sparse", k=0)
    with pytest.raises(TypeError, match=r"unknown options \['tol'\]; accepted: h, rtol, atol"):
        gradcheck(Cube(), _x(), rng, tol=1e-3)
    with pytest.raises(ValueError, match="Plus takes 2 input\\(s\\), got 1"):
        gradcheck(Plus(), _x(), rng)
    with pytest.raises(TypeError, match="expects a Layer, a loss, a ComputationalGraph .* got int"):
        gradcheck(3, _x(), rng)
    assert str(Options("sparse", k=4)) == "mode sparse k=4; h=1e-05, rtol=1e-07, atol=1e-08"


def test_the_error_is_floored_so_zero_gradients_compare_absolutely() -> None:
    opts = Options()
    assert opts.errors(0.0, 0.0) == 0.0
    assert opts.errors(0.0, 1e-9) == pytest.approx(1e-8)  # 1e-9 / (atol / rtol = 0.1)
    assert opts.errors(2.0, 1.0) == pytest.approx(1 / 3)
    assert opts.errors(np.nan, 1.0) == np.inf


def test_steps_are_measured_so_inputs_far_from_zero_check_cleanly() -> None:
    """x + h rounds at |x| = 1e5: dividing by the nominal h would err by 1.7e-7 here."""
    rng = np.random.default_rng(19)
    scores, y = 1e5 + rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    assert check_loss(SoftmaxCrossEntropy(), scores, y, rng).max_error < 1e-8


def test_a_scalar_param_and_an_empty_tensor_are_handled() -> None:
    class Scaled(Layer):
        """out = a x with a 0-d param a."""

        _x: np.ndarray | None = None

        def __init__(self) -> None:
            super().__init__()
            self.params = {"a": Param(np.array(1.5))}

        def forward(self, x: np.ndarray) -> np.ndarray:
            self._x = x
            return self.params["a"].value * x

        def backward(self, dout: np.ndarray) -> np.ndarray:
            self.params["a"].grad[...] = np.sum(self._cached(self._x) * dout)
            return self.params["a"].value * dout

    for mode in ("full", "sparse", "fast"):
        result = check_layer(Scaled(), _x(), np.random.default_rng(20), mode=mode, k=3)
        assert _row(result, "param a").shape == () and _row(result, "param a").checked >= 1
    empty = check_layer(Scaled(), np.zeros((0, 3)), np.random.default_rng(20))
    assert _row(empty, "input 0 (x)").checked == 0 and _row(empty, "input 0 (x)").where == "-"
