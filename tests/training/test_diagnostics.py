"""Training diagnostics: update-to-weight ratios, dead-ReLU fractions, their warnings."""

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.layers.affine import Affine
from gategraph.layers.relu import ReLU
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.sequential import Sequential
from gategraph.optim.sgd import SGD
from gategraph.training import Trainer
from gategraph.training.diagnostics import (
    DEAD_RELU_WARN,
    RATIO_HIGH,
    RATIO_LOW,
    Diagnostics,
    UpdateRatios,
    dead_relu_fractions,
    warnings_for,
)


def test_update_ratio_is_the_step_norm_over_the_weight_norm() -> None:
    W, b = Param(np.array([[3.0, 4.0]])), Param(np.zeros(2), decay=False)
    ratios = UpdateRatios({"W": W, "b": b})
    ratios.before_step()
    W.value -= [[0.3, 0.4]]  # ||step|| = 0.5, ||W|| = 5
    b.value += 1.0
    ratios.after_step()
    ratios.before_step()
    W.value[...] = [[0.0, 0.0]]  # from [[2.7, 3.6]]: the whole weight, ratio 1
    ratios.after_step()
    # b: the first step starts from 0 (no ratio), the second leaves it alone (ratio 0)
    assert ratios.means() == {"W": pytest.approx((0.1 + 1.0) / 2), "b": 0.0}
    ratios.before_step()
    b.value *= 3.0  # b was [1, 1]: ratio 2; W is 0 now, so no ratio
    ratios.after_step()
    assert ratios.means() == {"W": None, "b": pytest.approx(2.0)}


def _net(rng: np.random.Generator) -> Sequential:
    return Sequential(
        [Affine(2, 3, rng=rng, dtype=np.float64), ReLU(), Affine(3, 2, rng=rng, dtype=np.float64)]
    )


def test_dead_relus_are_units_at_zero_for_every_sample() -> None:
    model = _net(np.random.default_rng(0))
    first = model.layers["affine0"].params
    first["W"].value[...] = [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]
    first["b"].value[...] = [0.0, 0.0, -1.0]  # unit 2 is -1 whatever x: dead
    x = np.array([[1.0, 5.0], [-1.0, 5.0]])  # unit 0 alive on sample 0, unit 1 on sample 1
    assert dead_relu_fractions(model, x) == {"relu0": pytest.approx(1 / 3)}
    first["b"].value[...] = -10.0
    assert dead_relu_fractions(model, x) == {"relu0": 1.0}
    assert dead_relu_fractions(Sequential([Affine(2, 2, rng=np.random.default_rng(0))]), x) == {}


def test_warnings_name_weights_out_of_range_and_dead_relu_nodes() -> None:
    params = {n: Param(np.ones(2), decay=n.endswith("W")) for n in ("a.W", "b.W", "c.W", "a.b")}
    ratios = {"a.W": RATIO_LOW / 2, "b.W": 1e-3, "c.W": RATIO_HIGH * 2, "a.b": 1.0}
    lines = warnings_for(ratios, {"relu0": DEAD_RELU_WARN, "relu1": 0.5}, params)
    assert len(lines) == 3
    assert lines[0].startswith("update/weight ratio of a.W is 5e-06, outside [1e-05, 0.1]")
    assert "learning rate too low? raise optim.lr" in lines[0]
    assert lines[1].startswith("update/weight ratio of c.W is 0.2, outside [1e-05, 0.1]")
    assert lines[1].endswith("learning rate too high? lower optim.lr")
    assert lines[2].startswith("50% of relu1's units are dead")
    assert warnings_for({"a.W": None}, {}, params) == []


def _trainer(model: Sequential, lr: float) -> Trainer:
    optimizer = SGD(model.params(), lr=lr)
    return Trainer(model, SoftmaxCrossEntropy(), optimizer, rng=np.random.default_rng(0))


def test_diagnostics_of_an_epoch_match_the_sgd_steps_taken() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 2)), rng.integers(0, 2, 8)
    reference, loss = _net(np.random.default_rng(1)), SoftmaxCrossEntropy()
    params = reference.params()
    optimizer = SGD(params.values(), lr=0.1)
    expected = []
    for _ in range(2):  # what fit does with one full batch per epoch (its order is irrelevant)
        loss.forward(reference.forward(x), y)
        reference.backward(loss.backward()[0])
        W, dW = params["affine1.W"].value, params["affine1.W"].grad
        expected.append(0.1 * np.linalg.norm(dW) / np.linalg.norm(W))
        optimizer.step()
    model = _net(np.random.default_rng(1))
    diagnostics = Diagnostics(x)
    row = _trainer(model, 0.1).fit(x, y, epochs=2, batch_size=8, callbacks=[diagnostics])[-1]
    rows = [_trainer(_net(np.random.default_rng(1)), 0.1).fit(x, y, epochs=2, batch_size=8)]
    assert row["train_loss"] == rows[0][-1]["train_loss"]  # diagnostics change no number
    assert row["update_ratio.affine1.W"] == pytest.approx(expected[1], rel=1e-5)
    assert {k for k in row if "." in k or k == "warnings"} == {
        "update_ratio.affine0.W",
        "update_ratio.affine0.b",
        "update_ratio.affine1.W",
        "update_ratio.affine1.b",
        "dead_relu.relu0",
        "warnings",
    }
    assert row["update_ratio.affine0.b"] is not None  # nonzero after the first step
    assert row["dead_relu.relu0"] == dead_relu_fractions(model, x)["relu0"]


def test_lr_far_too_high_warns() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 2)), rng.integers(0, 2, 8)
    trainer = _trainer(_net(rng), lr=100.0)
    row = trainer.fit(x, y, epochs=1, batch_size=8, callbacks=[Diagnostics(x)])[0]
    assert any(w.startswith("update/weight ratio of affine0.W") for w in row["warnings"])


def test_diagnostics_need_a_probe_batch() -> None:
    with pytest.raises(ValueError, match="Diagnostics needs a non-empty probe batch, got 0"):
        Diagnostics(np.zeros((0, 2)))
