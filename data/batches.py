"""Minibatch index arrays: one fresh permutation per epoch, resumable mid-epoch."""

from collections.abc import Iterator

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_int


def epoch_order(n: int, rng: Generator) -> np.ndarray:
    """The order of one epoch: `rng.permutation(n)`, int64 (n,). Save it to resume an epoch."""
    return rng.permutation(check_int("epoch_order", "n", n, low=1))


def n_batches(n: int, batch_size: int) -> int:
    """Batches per epoch: ceil(n / batch_size), the last one partial when it does not divide."""
    n = check_int("n_batches", "n", n, low=1)
    return -(-n // check_int("n_batches", "batch_size", batch_size, low=1))


def batch_slices(perm: np.ndarray, batch_size: int, start: int = 0) -> Iterator[np.ndarray]:
    """Index arrays perm[k * batch_size : (k + 1) * batch_size] for k = start, start + 1, ...

    The last batch is partial when batch_size does not divide len(perm); it is included. With
    the saved `perm` of an epoch and the number of batches already done as `start`, the rest of
    the epoch is exactly the batches an uninterrupted run would have drawn. Yields views of perm.
    """
    perm = np.asarray(perm)
    if perm.ndim != 1 or perm.dtype.kind not in "iu":
        raise ValueError(f"batch_slices needs a 1-D integer perm, got {perm.dtype} {perm.shape}")
    batch_size = check_int("batch_slices", "batch_size", batch_size, low=1)
    total = -(-len(perm) // batch_size)
    start = check_int("batch_slices", "start", start, low=0)
    if start > total:
        raise ValueError(f"batch_slices needs start <= {total} (batches per epoch), got {start}")
    return (perm[k * batch_size : (k + 1) * batch_size] for k in range(start, total))


def minibatches(n: int, batch_size: int, *, rng: Generator) -> Iterator[np.ndarray]:
    """One epoch over n samples: draws `epoch_order(n, rng)` now (not lazily), then yields
    index arrays of batch_size, the last one partial (n % batch_size) when it does not divide.
    Every index in 0..n-1 appears exactly once per epoch."""
    return batch_slices(epoch_order(n, rng), batch_size)
