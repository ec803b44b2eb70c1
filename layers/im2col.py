"""Window helpers shared by the convolution and pooling gates: geometry, padding, im2col, col2im.

Spatial layouts are generic: an input is (N, C, *S) with S = (L,) or (H, W), a kernel, stride
and pad are tuples with one entry per spatial axis. Loops run over kernel offsets only (at most
HH*WW iterations, each one vectorized NumPy call over the whole batch), never over pixels.
"""

import functools
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def as_tuple(value: int | Sequence[int], n: int, who: str, what: str, low: int) -> tuple[int, ...]:
    """`value` (an int, or a sequence of `n` ints) as an n-tuple of ints >= `low`."""
    items = list(value) if isinstance(value, list | tuple) else [value] * n
    ints = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items)
    if len(items) != n or not ints or min(items) < low:
        kind = ("positive" if low == 1 else "non-negative") + " integer"
        several = "" if n == 1 else f" or {n} of them"
        raise ValueError(f"{who} needs {what} to be a {kind}{several}, got {value!r}")
    return tuple(int(v) for v in items)


def output_size(
    who: str,
    x_shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pad: tuple[int, ...],
) -> tuple[int, ...]:
    """Spatial output size (S + 2 pad - kernel) // stride + 1; raises if the kernel does not fit."""
    spatial = x_shape[2:]
    if len(spatial) != len(kernel):
        axes = "(N, C, L)" if len(kernel) == 1 else "(N, C, H, W)"
        raise ValueError(f"{who} expects x of shape {axes}, got {x_shape}")
    padded = tuple(s + 2 * p for s, p in zip(spatial, pad, strict=True))
    if any(p < k for p, k in zip(padded, kernel, strict=True)):
        size = f"padded spatial size {padded}" if any(pad) else f"spatial size {spatial}"
        with_pad = f" with pad {pad}" if any(pad) else ""
        raise ValueError(
            f"{who}: window {kernel} is larger than the {size} of x {x_shape}{with_pad}"
        )
    return tuple((p - k) // s + 1 for p, k, s in zip(padded, kernel, stride, strict=True))


def pad_into(x: np.ndarray, pad: tuple[int, ...], buf: np.ndarray, *, borders: bool = True) -> None:
    """Write x zero-padded by `pad` (both sides of each spatial axis) into `buf`. With
    `borders=False` the borders are trusted to be zero already (a reused buffer)."""
    if borders:
        for axis, p in enumerate(pad, start=2):
            for border in (slice(0, p), slice(buf.shape[axis] - p, None)):
                buf[(slice(None),) * axis + (border,)] = 0
    unpad(buf, pad)[...] = x


def unpad(xp: np.ndarray, pad: tuple[int, ...]) -> np.ndarray:
    """The interior of a padded array (a view)."""
    interior = [slice(p, n - p) for p, n in zip(pad, xp.shape[2:], strict=True)]
    return xp[(slice(None), slice(None), *interior)]


def windows(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    """View (N, C, *kernel, *out) of every window of `xp`: im2col before the copy."""
    d = len(kernel)
    spatial = tuple(range(2, 2 + d))
    view = sliding_window_view(xp, kernel, axis=spatial)  # (N, C, *positions, *kernel)
    view = view[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
    return view.transpose(0, 1, *range(2 + d, 2 + 2 * d), *spatial)


def offsets(kernel: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Kernel offsets in row-major order (the order of a flattened window)."""
    return itertools.product(*(range(k) for k in kernel))


def at_offset(
    a: np.ndarray, offset: tuple[int, ...], stride: tuple[int, ...], out: tuple[int, ...]
) -> np.ndarray:
    """View (N, C, *out) of the elements of `a` at kernel `offset` of every window."""
    picks = (slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, stride, out, strict=True))
    return a[(slice(None), slice(None), *picks)]


def col2im(
    dcols: np.ndarray, stride: tuple[int, ...], pad: tuple[int, ...], dx: np.ndarray
) -> np.ndarray:
    """Scatter-add columns (N, C, *kernel, *out) onto `dx` (N, C, *S); entries that land on
    the zero padding are dropped. A tap that lands on every input (the centre of a "same"
    convolution) is copied first, which saves zeroing dx."""
    covers_all, taps = _taps(dcols.shape[2:], stride, pad, dx.shape[2:])
    if covers_all:
        np.copyto(dx[taps[0][1]], dcols[taps[0][0]])
    else:
        dx.fill(0)
    for src, dst in taps[int(covers_all) :]:
        view = dx[dst]
        view += dcols[src]  # windows overlap: add, not assign
    return dx


@functools.cache
def _taps(
    window_and_out: tuple[int, ...],
    stride: tuple[int, ...],
    pad: tuple[int, ...],
    size: tuple[int, ...],
) -> tuple[bool, tuple[tuple[tuple[Any, ...], tuple[Any, ...]], ...]]:
    """(whether the first tap lands on every input, [(dcols index, dx index) per tap])."""
    d = len(stride)
    kernel, out = window_and_out[:d], window_and_out[d:]
    everywhere = tuple(slice(0, n, 1) for n in size)
    taps = []
    for offset in offsets(kernel):
        spans = [_landing(*g) for g in zip(offset, stride, pad, out, size, strict=True)]
        dst = tuple(t for _, t in spans)
        taps.append(((slice(None), slice(None), *offset, *(s for s, _ in spans)), dst))
    taps.sort(key=lambda tap: tap[1] != everywhere)  # stable: a tap landing everywhere first
    indices = tuple((src, (slice(None), slice(None), *dst)) for src, dst in taps)
    return taps[0][1] == everywhere, indices


def _landing(o: int, s: int, p: int, n_out: int, n_in: int) -> tuple[slice, slice]:
    """(outputs i, inputs i·s + o - p) for the outputs whose tap `o` lands inside the input."""
    first = max(0, -((o - p) // s))  # ceil((p - o) / s)
    last = min(n_out - 1, (n_in - 1 + p - o) // s)
    if last < first:
        return slice(0, 0), slice(0, 0)
    return slice(first, last + 1), slice(first * s + o - p, last * s + o - p + 1, s)
