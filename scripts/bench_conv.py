"""Benchmark gategraph's Conv2D against the fastest plain-NumPy convolution we could write.

Run with the machine's BLAS defaults lifted, in that command only:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_conv.py [--repeats R] [--json]

Workload (issues 5 and 6): 3x3 conv, pad 1, 32 -> 64 channels, 32x32 images, batch 64, float32;
"forward" and "forward + backward" (dx, dW and db). gategraph runs its Conv2D inside a Sequential
(buffers reused, as training runs it); the NumPy reference is `NumpyConv` below, written without
gategraph, with its buffers allocated once; "NumPy, fresh arrays" is the same arithmetic
allocating every array per call, as notebook code does. Implementations alternate within each
round; each figure is the median over rounds of the mean time of a block of calls, and the
ratio is reference time / gategraph time (above 1: gategraph is faster). Outputs and gradients
are cross-checked first. `run()` returns the numbers as a dict for scripts/bench.py.
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, positive_int  # noqa: E402

WORKLOAD = {"batch": 64, "in_channels": 32, "out_channels": 64, "size": 32}  # 3x3 kernel, pad 1
CHUNK = 2  # samples per dx chunk: dcols for 2 samples (2.4 MB) stays in cache
TAPS = [(i, j) for i in range(3) for j in range(3) if (i, j) != (1, 1)]


class NumpyConv:
    """3x3 / pad 1 / stride 1 conv by hand, the fastest plain NumPy we found: im2col with
    sliding_window_view into a reused (N, C·9 + 1, H·W) buffer whose last row is ones (the bias
    trick), out[n] = [W | b] @ cols[n] as one batched GEMM; [dW | db] per sample by GEMM, then
    summed; dx through dcols and col2im, a chunk of samples at a time so dcols stays in cache,
    the centre tap copied and the 8 others added with their borders clipped."""

    def __init__(self, W: np.ndarray, b: np.ndarray, x_shape: tuple, *, fresh: bool = False):
        self.W, self.b, self.fresh = W, b, fresh
        N, C, H, Wd = x_shape
        F, K = len(W), W[0].size
        self.shapes = {
            "xp": (N, C, H + 2, Wd + 2),
            "cols": (N, K + 1, H * Wd),
            "Wb": (F, K + 1),
            "out": (N, F, H, Wd),
            "per_sample": (N, F, K + 1),
            "dcols": (CHUNK, C, 3, 3, H, Wd),
            "dx": x_shape,
        }
        self.buf = {k: np.zeros(s, W.dtype) for k, s in self.shapes.items()}
        self.cols: np.ndarray | None = None

    def _get(self, name: str) -> np.ndarray:
        return np.zeros(self.shapes[name], self.W.dtype) if self.fresh else self.buf[name]

    def forward(self, x: np.ndarray) -> np.ndarray:
        (N, C, H, Wd), F, K = x.shape, len(self.W), self.W[0].size
        xp, cols, Wb, out = (self._get(k) for k in ("xp", "cols", "Wb", "out"))
        xp[:, :, 1:-1, 1:-1] = x  # the border stays zero
        windows = sliding_window_view(xp, (3, 3), axis=(2, 3)).transpose(0, 1, 4, 5, 2, 3)
        np.copyto(cols[:, :K].reshape(N, C, 3, 3, H, Wd), windows)
        cols[:, K] = 1
        Wb[:, :K], Wb[:, K] = self.W.reshape(F, K), self.b
        np.matmul(Wb, cols, out=out.reshape(N, F, H * Wd))
        self.cols = cols
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        (N, F, H, Wd), K = dout.shape, self.W[0].size
        d3, per_sample = dout.reshape(N, F, H * Wd), self._get("per_sample")
        np.matmul(d3, self.cols.transpose(0, 2, 1), out=per_sample)
        dWb = per_sample.sum(axis=0)
        W_T, dx, dcols = self.W.reshape(F, K).T, self._get("dx"), self._get("dcols")
        for s in range(0, N, CHUNK):
            dc, dxs = dcols[: min(CHUNK, N - s)], dx[s : s + CHUNK]
            np.matmul(W_T, d3[s : s + CHUNK], out=dc.reshape(len(dc), K, H * Wd))
            np.copyto(dxs, dc[:, :, 1, 1])  # the centre tap lands on every pixel
            for i, j in TAPS:  # input row h = h' + i - 1: clip h' to keep h inside
                src = (
                    slice(max(0, 1 - i), H + min(0, 1 - i)),
                    slice(max(0, 1 - j), Wd + min(0, 1 - j)),
                )
                dst = (
                    slice(max(0, i - 1), H + min(0, i - 1)),
                    slice(max(0, j - 1), Wd + min(0, j - 1)),
                )
                dxs[:, :, dst[0], dst[1]] += dc[:, :, i, j, src[0], src[1]]
        return dx, dWb[:, :K].reshape(self.W.shape), dWb[:, K]


def gategraph_conv(W: np.ndarray, b: np.ndarray) -> tuple[Callable, Callable, Any]:
    """(forward, backward, conv): the Conv2D a config builds, run through a Sequential."""
    from gategraph.layers import LAYERS
    from gategraph.models.sequential import Sequential

    spec = {
        "type": "conv2d",
        "in_channels": W.shape[1],
        "out_channels": len(W),
        "kernel_size": 3,
        "pad": 1,
    }
    conv = LAYERS.build(spec, rng=np.random.default_rng(0), dtype=np.float32)
    conv.params["W"].value[...] = W
    conv.params["b"].value[...] = b
    model = Sequential([conv], input_grad=True)  # dx is part of what is timed
    return model.forward, model.backward, conv


def _inputs(seed: int, w: dict[str, int]) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    N, C, F, S = w["batch"], w["in_channels"], w["out_channels"], w["size"]
    x = rng.standard_normal((N, C, S, S), dtype=np.float32)
    dout = rng.standard_normal((N, F, S, S), dtype=np.float32)
    W = (rng.standard_normal((F, C, 3, 3)) * np.sqrt(2 / (9 * C))).astype(np.float32)
    return x, dout, W, rng.standard_normal(F).astype(np.float32)


def _cross_check(
    x: np.ndarray, dout: np.ndarray, ref: NumpyConv, fwd: Callable, bwd: Callable, conv: Any
) -> dict[str, float]:
    """Largest |gategraph - reference| relative to the reference's largest entry, per array."""
    out_ref = ref.forward(x).copy()
    dx_ref, dW_ref, db_ref = (a.copy() for a in ref.backward(dout))
    pairs = {
        "out": (fwd(x), out_ref),
        "dx": (bwd(dout), dx_ref),
        "dW": (conv.params["W"].grad, dW_ref),
        "db": (conv.params["b"].grad, db_ref),
    }
    errors = {k: float(np.abs(a - r).max() / np.abs(r).max()) for k, (a, r) in pairs.items()}
    if max(errors.values()) > 1e-4:
        raise AssertionError(f"gategraph and the NumPy reference disagree: {errors}")
    return errors


def run(
    repeats: int = 15, *, block: int = 3, seed: int = 0, workload: dict[str, int] | None = None
) -> dict:
    """Time gategraph's Conv2D, the NumPy reference and its fresh-array variant, alternating.

    `workload` overrides WORKLOAD's batch, channels and size (the kernel is 3x3, pad 1).
    Returns {"workload", "errors", "load_before", "load_after", "forward": {impl: stats},
    "forward_backward": {impl: stats}} where impl is gategraph / numpy / numpy_fresh, stats
    {"median_ms", "min_ms", "max_ms", "ratio"} with ratio = reference median / this median
    (the reference's own is 1), errors the cross-check's relative differences and the loads
    the 1-minute load averages around the timing.
    """
    workload = WORKLOAD if workload is None else workload
    x, dout, W, b = _inputs(seed, workload)
    ref, fresh = NumpyConv(W, b, x.shape), NumpyConv(W, b, x.shape, fresh=True)
    fwd, bwd, conv = gategraph_conv(W, b)
    errors = _cross_check(x, dout, ref, fwd, bwd, conv)
    cases = {
        "forward": {
            "gategraph": lambda: fwd(x),
            "numpy": lambda: ref.forward(x),
            "numpy_fresh": lambda: fresh.forward(x),
        },
        "forward_backward": {
            "gategraph": lambda: (fwd(x), bwd(dout)),
            "numpy": lambda: (ref.forward(x), ref.backward(dout)),
            "numpy_fresh": lambda: (fresh.forward(x), fresh.backward(dout)),
        },
    }
    result: dict = {"workload": dict(workload, kernel=3, pad=1, dtype="float32"), "errors": errors}
    result["load_before"] = os.getloadavg()[0]
    for case, fns in cases.items():
        times = _alternate(fns, repeats, block)
        ref_median = statistics.median(times["numpy"])
        result[case] = {
            name: {
                "median_ms": statistics.median(t),
                "min_ms": min(t),
                "max_ms": max(t),
                "ratio": ref_median / statistics.median(t),
            }
            for name, t in times.items()
        }
    result["load_after"] = os.getloadavg()[0]  # other processes on the machine skew timings
    return result


def _alternate(fns: dict[str, Callable], repeats: int, block: int) -> dict[str, list[float]]:
    for fn in fns.values():
        fn()  # warm up: buffers allocated, pages touched
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - start) / block * 1e3)
    return times


LABELS = {
    "gategraph": "gategraph Conv2D (Sequential)",
    "numpy": "NumPy im2col, reused buffers (reference)",
    "numpy_fresh": "NumPy im2col, fresh arrays",
}


def table(result: dict) -> str:
    """Markdown table: median ms (min-max) and ratio to the reference, per implementation."""
    w = result["workload"]
    title = (
        f"Conv2D 3x3, pad 1, {w['in_channels']} -> {w['out_channels']} channels, "
        f"{w['size']}x{w['size']}, batch {w['batch']}, float32"
    )
    lines = [
        title,
        "",
        "| implementation | forward (ms) | forward + backward (ms) |",
        "| --- | ---: | ---: |",
    ]
    for name, label in LABELS.items():
        cells = []
        for case in ("forward", "forward_backward"):
            s = result[case][name]
            cells.append(
                f"{s['median_ms']:.1f} ({s['min_ms']:.1f}-{s['max_ms']:.1f}) x{s['ratio']:.2f}"
            )
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "median (min-max) over rounds; xR = reference time / this time. 1-min load average "
        f"{result['load_before']:.2f} before, {result['load_after']:.2f} after "
        f"({os.cpu_count()} CPUs).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = Parser(
        prog="bench_conv.py",
        description=__doc__.splitlines()[0],
        examples=[
            "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_conv.py",
            "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_conv.py --json",
        ],
    )
    parser.add_argument("--repeats", type=positive_int, default=15, help="timed rounds")
    parser.add_argument("--block", type=positive_int, default=3, help="calls per timed block")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.repeats, block=args.block)
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
