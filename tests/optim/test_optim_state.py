"""state_dict / load_state_dict: an interrupted run, resumed, equals the uninterrupted one."""

import io

import numpy as np
import pytest

from gategraph.core.params import Param
from gategraph.optim import OPTIMIZERS, Optimizer
from gategraph.optim.sgd import SGD


def run(optimizer: Optimizer, params: list[Param], grads: list[list[np.ndarray]]) -> None:
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad[...] = g
        optimizer.step()


def through_npz(state: dict) -> dict:
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        return dict(saved)


def test_resume_is_bit_identical(config, make_params, make_grads) -> None:
    name, options = config
    spec = {"type": name, **options}
    params = make_params(np.float32)
    grads = make_grads(7, params)
    optimizer = OPTIMIZERS.build(spec, params=params)
    run(optimizer, params, grads[:3])
    optimizer.lr *= 0.5  # as a schedule would: the lr is part of the state
    saved_values, saved_state = [p.value.copy() for p in params], optimizer.state_dict()
    run(optimizer, params, grads[3:])

    resumed = [Param(v, decay=p.decay) for v, p in zip(saved_values, params, strict=True)]
    fresh = OPTIMIZERS.build(spec, params=resumed)
    fresh.load_state_dict(through_npz(saved_state))
    run(fresh, resumed, grads[3:])
    for p, q in zip(params, resumed, strict=True):
        assert np.array_equal(p.value, q.value)
    assert fresh.steps == optimizer.steps == 7
    assert all(v.dtype == np.float32 for v in fresh.state.values())


def test_state_dict_copies_arrays_and_holds_plain_scalars() -> None:
    optimizer = SGD([Param(np.ones(3))], lr=0.1, momentum=0.9)
    state = optimizer.state_dict()
    assert state == {"lr": 0.1, "weight_decay": 0.0, "steps": 0, "velocity": state["velocity"]}
    state["velocity"][...] = 5.0
    assert not optimizer.state["velocity"].any()


def test_load_state_dict_names_missing_and_misshaped_entries() -> None:
    optimizer = SGD([Param(np.ones(3))], lr=0.1, momentum=0.9)
    state = optimizer.state_dict()
    with pytest.raises(ValueError, match=r"SGD.load_state_dict expects keys \['lr', 'steps', "):
        optimizer.load_state_dict({k: v for k, v in state.items() if k != "velocity"})
    with pytest.raises(ValueError, match=r"velocity must have shape \(3,\), got \(4,\)"):
        optimizer.load_state_dict({**state, "velocity": np.zeros(4)})
