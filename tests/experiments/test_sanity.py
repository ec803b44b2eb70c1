"""Sanity checks: each passes on configs/mlp.yaml and fails on purpose (a learning rate of 0,
weights initialized far too large, a broken gate); the experiment itself is never touched."""

import copy
import dataclasses
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from gategraph.data import Splits
from gategraph.experiments.build import Experiment, build
from gategraph.experiments.config import load_config
from gategraph.experiments.sanity import (
    INIT_LOSS_BAND,
    Check,
    SanityReport,
    check_gradients,
    check_initial_loss,
    check_overfit,
    expected_initial_loss,
    model_with_loss,
    run_sanity,
)
from gategraph.layers.relu import ReLU
from gategraph.losses.mse import MSE
from gategraph.losses.sigmoid_bce import SigmoidBCE
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.losses.svm_hinge import SVMHinge
from gategraph.models.sequential import Sequential

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL_LAST_LAYER = ["model.layers[2].init=normal", "model.layers[2].init_scale=0.01"]


def _experiment(name: str = "mlp", overrides: list[str] | None = None) -> Experiment:
    return build(load_config(CONFIGS / f"{name}.yaml", overrides or []))


@pytest.fixture(scope="module")
def mlp() -> Experiment:
    return _experiment()


def _ratio(check: Check) -> float:
    return float(re.search(r"\(([\d.]+)x, ", check.result).group(1))


# ---- the loss at initialization -------------------------------------------------------------


def test_expected_initial_losses_are_those_of_zero_scores() -> None:
    scores, y = np.zeros((4, 5)), np.array([0, 1, 4, 2])
    for loss, formula in [
        (SoftmaxCrossEntropy(), "ln 5"),
        (SVMHinge(margin=2.0), "(C - 1) * margin = 4 * 2"),
    ]:
        value, said = expected_initial_loss(loss, 5)
        assert said == formula
        assert value == pytest.approx(loss.forward(scores, y), rel=1e-15)
    value, said = expected_initial_loss(SigmoidBCE(), 2)
    assert (value, said) == (pytest.approx(SigmoidBCE().forward(np.zeros(4), y % 2)), "ln 2")
    assert expected_initial_loss(MSE(), None) is None
    assert expected_initial_loss(SoftmaxCrossEntropy(), None) is None
    assert expected_initial_loss(SVMHinge(margin=0.0), 3) is None


def test_initial_loss_passes_when_the_last_layer_starts_small() -> None:
    check = check_initial_loss(_experiment(overrides=SMALL_LAST_LAYER))
    assert check.verdict == "PASS"
    assert check.result.startswith("1.137 vs ln 3 = 1.099 expected (1.04x, within ±25%)")
    assert abs(_ratio(check) - 1) <= INIT_LOSS_BAND


def test_a_he_initialized_last_layer_warns() -> None:
    # mlp.yaml as shipped: the scores start with a std of about 1.9, confidently wrong at times
    he = _experiment(overrides=["model.layers[2].init=he"])
    check = check_initial_loss(he)
    X, y = he.splits.train
    value = he.loss.forward(he.model.predict(X), y)
    assert value / math.log(3) == pytest.approx(_ratio(check), abs=0.005)
    assert check.verdict == "WARN" and "2.30x, outside ±25%" in check.result
    penalty = he.optimizer.penalty()
    assert f"with L2 (weight_decay 0.001): {value + penalty:.4g}" in check.result
    assert "init: normal, init_scale: 0.01" in check.details[0]


def test_weights_initialized_far_too_large_fail_the_initial_loss() -> None:
    scaled = [f"model.layers[{i}].{k}" for i in (0, 2) for k in ("init=normal", "init_scale=10")]
    wrong = _experiment(overrides=scaled)
    check = check_initial_loss(wrong)
    assert check.verdict == "FAIL" and "over 3x" in check.result
    assert _ratio(check) > 10
    assert "initialized too large" in check.details[0]


def test_svm_hinge_starts_at_c_minus_1_times_the_margin_with_small_weights() -> None:
    small = [f"model.layers[{i}].{k}" for i in (0, 2) for k in ("init=normal", "init_scale=1e-3")]
    check = check_initial_loss(_experiment("spiral_svm", small))
    assert check.verdict == "PASS"
    assert check.result.startswith("2 vs (C - 1) * margin = 2 * 1 = 2 expected (1.00x")


def test_a_loss_without_expectation_is_skipped(mlp: Experiment) -> None:
    check = check_initial_loss(_regression(mlp))
    assert check.verdict == "SKIP" and "no expected value for loss 'mse'" in check.result


# ---- overfitting a tiny subset --------------------------------------------------------------


def test_mlp_overfits_twenty_samples(mlp: Experiment) -> None:
    check = check_overfit(mlp)
    assert (check.name, check.verdict) == ("overfit 20", "PASS")
    assert re.fullmatch(
        r"100% train accuracy \(20/20, loss [\d.]+\) in \d+ of 200 steps "
        r"\(sgd, lr 0.1, weight decay off\)",
        check.result,
    )


def test_a_learning_rate_of_zero_cannot_overfit(mlp: Experiment) -> None:
    check = check_overfit(mlp, lr=0.0, steps=20)
    assert check.verdict == "FAIL"
    assert check.result.startswith("only 15% train accuracy (3/20, loss ")
    assert check.result.endswith("after 20 steps (sgd, lr 0, weight decay off)")


def test_a_diverging_run_fails_at_its_step_without_warnings(mlp: Experiment) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow is reported in the verdict, not warned about
        check = check_overfit(mlp, lr=1e12)
    assert (check.verdict, check.result) == (
        "FAIL",
        "the loss diverged at step 3 (sgd, lr 1e+12, weight decay off)",
    )


def _regression(experiment: Experiment) -> Experiment:
    X, _ = experiment.splits.train
    targets = np.sin(X @ np.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0]]))
    splits = Splits((X, targets), experiment.splits.val, experiment.splits.test)
    return dataclasses.replace(experiment, splits=splits, loss=MSE(), n_classes=None)


def test_without_class_labels_overfitting_means_loss_down_to_one_percent(mlp: Experiment) -> None:
    check = check_overfit(_regression(mlp))
    assert check.verdict == "PASS"
    share = float(re.search(r"\(([\d.]+)% of its start", check.result).group(1))
    assert share <= 1.0


# ---- the gradient check ---------------------------------------------------------------------


def test_the_whole_model_passes_the_gradient_check(mlp: Experiment) -> None:
    check = check_gradients(mlp)
    assert check.verdict == "PASS"
    assert "on all 603 params (full), 4 examples, after 10 steps; 0 kinks" in check.result
    assert float(re.search(r"max rel error (\S+) <=", check.result).group(1)) < 1e-8


class _LeakyBackwardReLU(ReLU):
    """A broken ReLU: backward lets a tenth of the gradient through where x < 0."""

    def backward(self, dout: np.ndarray) -> np.ndarray:
        mask = self._cached(self._mask)
        return dout * np.where(mask, 1.0, 0.1)


def test_a_broken_gate_fails_the_gradient_check_and_is_named(mlp: Experiment) -> None:
    first, _, last = copy.deepcopy(list(mlp.model.layers.values()))
    broken = Sequential([first, _LeakyBackwardReLU(), last], input_grad=False)
    check = check_gradients(dataclasses.replace(mlp, model=broken))
    assert check.verdict == "FAIL"
    assert check.result.endswith("first wrong gate: node 'relu0' (_LeakyBackwardReLU)")
    assert any("param affine0.W" in line and "FAIL" in line for line in check.details)


def test_kinks_met_are_reported(mlp: Experiment) -> None:
    # all-zero inputs and zero biases: every hidden unit sits on ReLU's kink at 0
    X, y = mlp.splits.train
    zeros = Splits((np.zeros_like(X), y), mlp.splits.val, mlp.splits.test)
    check = check_gradients(dataclasses.replace(mlp, splits=zeros), burn_in=0)
    assert check.verdict == "PASS" and check.result.endswith("after 0 steps; 100 kinks")
    assert check.details[0].startswith("kink at ComputationalGraph param affine0.b (0,): ")
    assert check.details[0].endswith("analytic 0 (inside)")
    assert check.details[-1] == "... and 90 more kinks"


def test_model_with_loss_computes_the_data_loss_and_avoids_taken_names(mlp: Experiment) -> None:
    X, y = mlp.splits.train
    graph, labels = model_with_loss(mlp.model, mlp.loss)
    assert labels == "y" and graph.output_name == "loss"
    expected = mlp.loss.forward(mlp.model.forward(X[:8]), y[:8])
    assert graph.forward(x=X[:8], y=y[:8]) == expected
    taken = Sequential([ReLU()])
    taken.graph.add(ReLU(), "relu0", name="y")
    taken.graph.add(ReLU(), "y", name="loss")
    graph, labels = model_with_loss(taken, SoftmaxCrossEntropy())
    assert labels == "y1" and graph.output_name == "loss1"
    assert list(graph.nodes()) == ["x", "relu0", "y", "loss", "y1", "loss1"]


# ---- the report -----------------------------------------------------------------------------


def test_run_sanity_reports_every_check_and_leaves_the_experiment_alone() -> None:
    experiment = _experiment()
    values, rng_state = experiment.optimizer.values.copy(), experiment.rng.bit_generator.state
    report = run_sanity(experiment, target="configs/mlp.yaml")
    verdicts = [(c.name, c.verdict) for c in report.checks]
    assert verdicts[0] in [("initial loss", "PASS"), ("initial loss", "WARN")]
    assert verdicts[1:] == [("overfit 20", "PASS"), ("gradient check", "PASS")]
    assert report.ok
    assert np.array_equal(experiment.optimizer.values, values)
    assert experiment.rng.bit_generator.state == rng_state
    assert str(run_sanity(experiment, target="configs/mlp.yaml")) == str(report)


def test_the_report_is_a_table_with_hints_and_a_verdict() -> None:
    report = SanityReport(
        "demo",
        [Check("one", "PASS", "fine"), Check("second", "FAIL", "broken", ("do this",))],
    )
    assert str(report).splitlines() == [
        "sanity checks of demo",
        "check   verdict  result",
        "one     PASS     fine",
        "second  FAIL     broken",
        "second: do this",
        "sanity checks FAILED (1 PASS, 1 FAIL)",
    ]
    assert not report.ok
    assert SanityReport("x", [Check("a", "WARN", "w"), Check("b", "SKIP", "s")]).ok
