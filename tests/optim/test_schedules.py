"""Per-epoch lr schedules: hand-computed lr sequences, resume, validation."""

import io
import math
import re

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.optim.schedules import SCHEDULES, Schedule
from gategraph.optim.sgd import SGD


def sgd(lr: float = 1.0) -> SGD:
    return SGD([Param(np.ones(2))], lr=lr)


def lrs(schedule: Schedule, epochs: int, metrics: list[float] | None = None) -> list[float]:
    """The lr each epoch runs at: epoch 0's is set at construction, the rest by step()."""
    seen = [schedule.optimizer.lr]
    for e in range(epochs - 1):
        schedule.step(None if metrics is None else metrics[e])
        seen.append(schedule.optimizer.lr)
    return seen


def build(spec: dict, lr: float = 1.0, epochs: int = 10) -> Schedule:
    return SCHEDULES.build(spec, optimizer=sgd(lr), epochs=epochs)


def test_step_decay() -> None:
    schedule = build({"type": "step", "step_size": 2, "gamma": 0.5})
    assert lrs(schedule, 6) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_exponential_decay() -> None:
    assert lrs(build({"type": "exponential", "gamma": 0.5}, lr=0.8), 4) == [0.8, 0.4, 0.2, 0.1]


def test_cosine_without_warmup_follows_torchs_cosine_annealing() -> None:
    schedule = build({"type": "cosine"}, epochs=4)
    # (1 + cos(pi e / 4)) / 2 for e = 0..4: 1, 0.853553, 0.5, 0.146447, then 0 after the run
    expected = [1.0, 0.8535533905932737, 0.5, 0.14644660940672624, 0.0, 0.0]
    np.testing.assert_allclose(lrs(schedule, 6), expected, rtol=1e-15, atol=1e-16)


def test_cosine_with_warmup_climbs_linearly_then_anneals_to_min_lr() -> None:
    schedule = build({"type": "cosine", "min_lr": 0.1, "warmup_epochs": 3}, epochs=7)
    # warm-up (e + 1) / 4; then 0.1 + 0.9 (1 + cos(pi (e - 3) / 4)) / 2, and 0.1 after epoch 7
    expected = [0.25, 0.5, 0.75, 1.0, 0.868198051533946, 0.55, 0.23180194846605364, 0.1, 0.1]
    np.testing.assert_allclose(lrs(schedule, 9), expected, rtol=1e-14)


def test_pure_schedules_give_lr_at_e_as_a_function_of_e_alone() -> None:
    spec = {"type": "cosine", "min_lr": 0.01, "warmup_epochs": 2}
    schedule = build(spec, lr=0.5)
    for _ in range(5):
        schedule.step()
    resumed = build(spec, lr=0.5)
    resumed.load_state_dict(schedule.state_dict())
    assert resumed.optimizer.lr == schedule.optimizer.lr == resumed.lr_at(5)
    assert lrs(resumed, 4) == [schedule.lr_at(e) for e in range(5, 9)]


def test_plateau_reduces_after_patience_and_respects_cooldown_and_min_lr() -> None:
    spec = {"type": "reduce_on_plateau", "patience": 2, "factor": 0.5, "cooldown": 1}
    schedule = build({**spec, "min_lr": 0.3})
    metrics = [1.0, 0.9] + [0.9] * 11  # improves twice, then flat
    # bad epochs 1, 2, 3 > patience -> 0.5; one cooldown epoch; 1, 2, 3 -> max(0.25, 0.3) = 0.3
    expected = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert lrs(schedule, 14, metrics) == expected


def test_plateau_threshold_is_relative_and_mode_max_watches_increases() -> None:
    spec = {"type": "reduce_on_plateau", "patience": 0, "threshold": 0.1}
    # 0.95 is not below 1.0 * (1 - 0.1): a bad epoch, reduced at once with patience 0
    assert lrs(build(spec), 3, [1.0, 0.95]) == [1.0, 1.0, 0.1]
    assert lrs(build(spec), 3, [1.0, 0.89]) == [1.0, 1.0, 1.0]
    rising = build({**spec, "mode": "max"})
    assert lrs(rising, 4, [0.5, 0.6, 0.6]) == [1.0, 1.0, 1.0, 0.1]


def test_plateau_resumes_mid_count() -> None:
    spec = {"type": "reduce_on_plateau", "patience": 2}
    metrics = [1.0] * 5  # flat: bad epochs 1, 2 before the save, 3 > patience after it
    schedule = build(spec)
    lrs(schedule, 3, metrics)
    resumed = build(spec)
    resumed.load_state_dict(schedule.state_dict())
    assert lrs(resumed, 3, metrics[2:]) == lrs(schedule, 3, metrics[2:]) == [1.0, 1.0, 0.1]


def test_plateau_needs_the_metric() -> None:
    schedule = build({"type": "reduce_on_plateau"})
    assert schedule.needs_metric and not build({"type": "step", "step_size": 1}).needs_metric
    with pytest.raises(TypeError, match="^ReduceOnPlateau.step needs the monitored metric"):
        schedule.step()


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "step", "step_size": 3},
        {"type": "exponential", "gamma": 0.9},
        {"type": "cosine", "warmup_epochs": 1},
        {"type": "reduce_on_plateau", "mode": "max"},
    ],
)
def test_state_is_plain_numbers_that_survive_an_npz(spec: dict) -> None:
    schedule = build(spec)
    lrs(schedule, 4, [0.1, 0.2, 0.3])
    state = schedule.state_dict()
    assert all(type(v) in (int, float) for v in state.values())
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        resumed = build(spec)
        resumed.load_state_dict(dict(saved))
    assert resumed.state_dict() == state
    assert resumed.epoch == 3 and resumed.base_lr == 1.0


def test_load_state_dict_names_expected_keys() -> None:
    with pytest.raises(ValueError, match=r"^StepDecay.load_state_dict expects keys \['base_lr'"):
        build({"type": "step", "step_size": 2}).load_state_dict({"epoch": 3})


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"type": "step", "step_size": 0}, ValueError, "StepDecay needs step_size >= 1, got 0"),
        (
            {"type": "step", "step_size": 1.5},
            TypeError,
            "StepDecay needs step_size to be an integer, got 1.5 (float)",
        ),
        ({"type": "exponential", "gamma": 0}, ValueError, "ExponentialDecay needs 0 < gamma <= 1"),
        (
            {"type": "cosine", "warmup_epochs": 10},
            ValueError,
            "CosineAnnealing needs 0 <= warmup_epochs <= 9, got 10",
        ),
        (
            {"type": "cosine", "min_lr": 2.0},
            ValueError,
            "CosineAnnealing needs 0 <= min_lr <= 1, got 2.0",
        ),
        (
            {"type": "reduce_on_plateau", "mode": "mn"},
            ValueError,
            "ReduceOnPlateau needs mode 'min' or 'max', got 'mn'",
        ),
        (
            {"type": "reduce_on_plateau", "factor": 1.0},
            ValueError,
            "ReduceOnPlateau needs 0 < factor < 1, got 1.0",
        ),
        (
            {"type": "reduce_on_plateau", "patience": -1},
            ValueError,
            "ReduceOnPlateau needs patience >= 0, got -1",
        ),
    ],
)
def test_validation(spec: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}"):
        build(spec)


def test_unknown_schedule_and_cosine_needs_the_run_length() -> None:
    with pytest.raises(ValueError, match="^unknown schedule 'cosin' \\(did you mean 'cosine'"):
        build({"type": "cosin"})
    with pytest.raises(TypeError, match="epochs"):
        SCHEDULES.build({"type": "cosine"}, optimizer=sgd())
    assert math.isclose(build({"type": "cosine"}, epochs=2).lr_at(1), 0.5)
