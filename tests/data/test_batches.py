"""Minibatches: one permutation per epoch, every index once, identical after a resume."""

from collections.abc import Callable

import numpy as np
import pytest

from gategraph.data.batches import batch_slices, epoch_order, minibatches, n_batches


def test_epoch_covers_every_index_once_with_a_partial_last_batch() -> None:
    batches = list(minibatches(10, 4, rng=np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert n_batches(10, 4) == 3 and n_batches(8, 4) == 2 and n_batches(3, 5) == 1


def test_each_call_draws_a_fresh_permutation_eagerly() -> None:
    rng = np.random.default_rng(0)
    first, second = minibatches(50, 50, rng=rng), minibatches(50, 50, rng=rng)
    expected = np.random.default_rng(0)
    order1, order2 = expected.permutation(50), expected.permutation(50)
    assert np.array_equal(next(second), order2)  # drawn at call time, not at first next()
    assert np.array_equal(next(first), order1)
    assert not np.array_equal(order1, order2)


def train_order(seed: int, n: int, batch_size: int, epochs: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [b.tolist() for _ in range(epochs) for b in minibatches(n, batch_size, rng=rng)]


def test_resume_mid_epoch_gives_the_uninterrupted_sequence() -> None:
    n, batch_size, epochs, stop_epoch, stop_step = 23, 5, 3, 1, 2
    rng = np.random.default_rng(42)
    seen: list[list[int]] = []
    for epoch in range(stop_epoch + 1):
        perm = epoch_order(n, rng)
        for step, batch in enumerate(batch_slices(perm, batch_size)):
            if (epoch, step) == (stop_epoch, stop_step):
                break
            seen.append(batch.tolist())
    saved = {"perm": perm.copy(), "step": stop_step, "rng": rng.bit_generator.state}

    resumed = np.random.default_rng(0)  # any seed: the state is restored below
    resumed.bit_generator.state = saved["rng"]
    seen += [b.tolist() for b in batch_slices(saved["perm"], batch_size, start=saved["step"])]
    for _ in range(stop_epoch + 1, epochs):
        seen += [b.tolist() for b in minibatches(n, batch_size, rng=resumed)]
    assert seen == train_order(42, n, batch_size, epochs)
    assert len(seen) == epochs * n_batches(n, batch_size)


def test_batch_slices_from_start_and_at_the_end() -> None:
    perm = np.array([4, 0, 3, 1, 2])
    assert [b.tolist() for b in batch_slices(perm, 2, start=1)] == [[3, 1], [2]]
    assert list(batch_slices(perm, 2, start=3)) == []


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: minibatches(0, 4, rng=np.random.default_rng(0)),
            ValueError,
            "epoch_order needs n >= 1, got 0",
        ),
        (
            lambda: minibatches(5, 0, rng=np.random.default_rng(0)),
            ValueError,
            "batch_slices needs batch_size >= 1, got 0",
        ),
        (
            lambda: minibatches(5, 2.0, rng=np.random.default_rng(0)),
            TypeError,
            r"batch_slices needs batch_size to be an integer, got 2.0 \(float\)",
        ),
        (
            lambda: batch_slices(np.arange(5), 2, start=4),
            ValueError,
            r"batch_slices needs start <= 3 \(batches per epoch\), got 4",
        ),
        (
            lambda: batch_slices(np.zeros((2, 2), int), 2),
            ValueError,
            r"batch_slices needs a 1-D integer perm, got int64 \(2, 2\)",
        ),
        (
            lambda: batch_slices(np.zeros(3), 2),
            ValueError,
            r"batch_slices needs a 1-D integer perm, got float64 \(3,\)",
        ),
    ],
)
def test_bad_arguments(call: Callable[[], object], error: type, message: str) -> None:
    with pytest.raises(error, match=f"^{message}$"):
        call()
