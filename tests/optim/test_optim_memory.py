"""A step works in place: no param-sized temporaries, nothing kept per step, float32 stays."""

import tracemalloc

import numpy as np

from gategraph.core.params import Param
from gategraph.optim import OPTIMIZERS


def test_steps_allocate_nothing_param_sized(config) -> None:
    name, options = config
    rng = np.random.default_rng(0)
    params = [
        Param(rng.standard_normal((200, 100)).astype(np.float32)),
        Param(np.zeros(100, np.float32), decay=False),
    ]
    optimizer = OPTIMIZERS.build({"type": name, **options, "lr": 1e-4}, params=params)
    optimizer.grads[...] = rng.standard_normal(optimizer.grads.size)
    optimizer.step()  # first step outside the trace
    tracemalloc.start()
    for _ in range(100):
        optimizer.step()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < optimizer.values.nbytes // 8, f"a temporary of {peak} bytes in some step"
    assert kept < 4096, f"{kept} bytes kept after 100 steps"
    arrays = [optimizer.values, optimizer.grads, *optimizer.state.values()]
    assert all(a.dtype == np.float32 for a in arrays)
    assert np.isfinite(optimizer.values).all()
