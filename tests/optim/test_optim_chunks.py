"""A step runs the update rule chunk by chunk: where the chunks end never changes a bit."""

import numpy as np
import pytest

from gategraph.optim import OPTIMIZERS
from gategraph.optim.sgd import SGD


@pytest.mark.parametrize("elements", [1, 3, 7, 20, 21])
def test_chunked_steps_equal_one_chunk_bit_for_bit(
    config, make_params, make_grads, elements: int
) -> None:
    """26 elements, the first 20 decayed: chunks of 7 end inside a weight, chunks of 20 and 21
    end at the decayed prefix's end (it cuts every chunk), chunks of 1 are single elements."""
    name, options = config
    results = []
    for chunk_bytes in (4 * elements, 1 << 30):
        params = make_params(np.float32)
        optimizer = OPTIMIZERS.build({"type": name, **options}, params=params)
        optimizer.chunk_bytes = chunk_bytes
        for step_grads in make_grads(5, params):
            for p, g in zip(params, step_grads, strict=True):
                p.grad[...] = g
            optimizer.step()
        decayed, rest = -(-20 // elements), -(-6 // elements)  # each part cut on its own
        assert len(optimizer._chunks) == (decayed + rest if chunk_bytes < 1 << 30 else 2)
        results.append([p.value.copy() for p in params] + list(optimizer.state_dict().values()))
    for chunked, whole in zip(*results, strict=True):
        np.testing.assert_array_equal(chunked, whole)


def test_chunks_cover_the_buffers_once_and_decay_only_the_prefix(make_params) -> None:
    """By hand: lr 1, no momentum, grads 0, weight decay 0.5: every decayed weight halves
    once per step and no bias moves, whatever the chunk size."""
    params = make_params(np.float32)
    optimizer = SGD(params, lr=1.0, weight_decay=0.5)
    optimizer.chunk_bytes = 4 * 3
    before = [p.value.copy() for p in params]
    optimizer.grads[...] = 0
    optimizer.step()
    for p, was in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.value, was * 0.5 if p.decay else was)
    sizes = [(len(c.values), c.decay) for c in optimizer._chunks]
    assert sizes == [(3, True)] * 6 + [(2, True)] + [(3, False)] * 2
