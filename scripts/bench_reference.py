"""Hand-written NumPy MLP training step and the GEMM-only ceiling: the benchmark's references.

Both mirror one gategraph training step: forward through Affine/ReLU layers, mean softmax
cross-entropy, backward, SGD with momentum (torch convention) and weight decay on weights.
The reference is written the way a careful person writes NumPy by hand: explicit
`np.matmul(..., out=)` into preallocated buffers, in-place bias, ReLU, softmax and updates, a
Python loop over layers and over parameters. Run alone, it times both on one MLP.
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

if (SCRIPTS := str(Path(__file__).resolve().parent)) not in sys.path:  # loaded by file path
    sys.path.append(SCRIPTS)
from _cli import Parser, non_negative_int, positive_int  # noqa: E402

STEP = {"lr": 1e-2, "momentum": 0.9, "weight_decay": 1e-4}  # as scripts/bench.py's step


class ReferenceMLP:
    """A careful hand-written NumPy MLP step over preallocated buffers."""

    def __init__(
        self,
        weights: list[tuple[np.ndarray, np.ndarray]],
        batch: int,
        *,
        lr: float,
        momentum: float,
        weight_decay: float,
    ) -> None:
        self.W = [w.copy() for w, _ in weights]
        self.b = [b.copy() for _, b in weights]
        dtype = self.W[0].dtype
        self.h = [np.empty((batch, w.shape[1]), dtype) for w in self.W]
        self.dh = [np.empty_like(h) for h in self.h[:-1]]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(b) for b in self.b]
        self.tW = [np.empty_like(w) for w in self.W]
        self.tb = [np.empty_like(b) for b in self.b]
        self.rows = np.arange(batch)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        last = len(self.W) - 1
        a = x
        for i, (W, b, h) in enumerate(zip(self.W, self.b, self.h, strict=True)):
            np.matmul(a, W, out=h)
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
            a = h
        s = self.h[last]
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        loss = -float(np.log(s[self.rows, y]).mean())
        s[self.rows, y] -= 1
        s /= len(y)
        d = s
        for i in range(last, -1, -1):
            a = x if i == 0 else self.h[i - 1]
            np.matmul(a.T, d, out=self.dW[i])
            np.sum(d, axis=0, out=self.db[i])
            if i > 0:
                np.matmul(d, self.W[i].T, out=self.dh[i - 1])
                self.dh[i - 1] *= self.h[i - 1] > 0
                d = self.dh[i - 1]
        self._update()
        return loss

    def _update(self) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        for p, g, v, t, decay in [
            *zip(self.W, self.dW, self.vW, self.tW, [True] * len(self.W), strict=True),
            *zip(self.b, self.db, self.vb, self.tb, [False] * len(self.b), strict=True),
        ]:
            if decay:
                np.multiply(p, wd, out=t)
                g += t
            v *= mu
            v += g
            np.multiply(v, lr, out=t)
            p -= t

    def params(self) -> list[np.ndarray]:
        return [p for pair in zip(self.W, self.b, strict=True) for p in pair]


class GemmCeiling:
    """Only the matrix products one training step needs (no dx for the data): an upper bound."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]], batch: int) -> None:
        self.W = [w.copy() for w, _ in weights]
        dtype = self.W[0].dtype
        self.h = [np.empty((batch, w.shape[1]), dtype) for w in self.W]
        self.dh = [np.empty_like(h) for h in self.h[:-1]]
        self.dW = [np.empty_like(w) for w in self.W]

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        a = x
        for W, h in zip(self.W, self.h, strict=True):
            np.matmul(a, W, out=h)
            a = h
        d = self.h[-1]
        for i in range(len(self.W) - 1, -1, -1):
            np.matmul(x.T if i == 0 else self.h[i - 1].T, d, out=self.dW[i])
            if i > 0:
                np.matmul(d, self.W[i].T, out=self.dh[i - 1])
                d = self.dh[i - 1]
        return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="bench_reference.py",
        description="Time the benchmark's hand-written NumPy training step and its GEMM-only "
        "ceiling on one MLP (He-initialized, float32, one fixed batch). scripts/bench.py runs "
        "both beside gategraph, the way to compare them.",
        examples=[
            "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_reference.py",
            "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_reference.py "
            "--sizes 784,512,256,10 --batch 128",
        ],
    )
    parser.add_argument(
        "--sizes", type=_sizes, default="64,128,10", help="layer widths, input first"
    )
    parser.add_argument("--batch", type=positive_int, default=64, help="samples per step")
    parser.add_argument("--steps", type=positive_int, default=200, help="timed steps of each")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of weights, batch")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    weights = [
        ((rng.standard_normal((m, n)) * np.sqrt(2 / m)).astype(np.float32), np.zeros(n, np.float32))
        for m, n in zip(args.sizes[:-1], args.sizes[1:], strict=True)
    ]
    x = rng.standard_normal((args.batch, args.sizes[0])).astype(np.float32)
    y = rng.integers(0, args.sizes[-1], args.batch)
    steps = {
        "numpy-reference": ReferenceMLP(weights, args.batch, **STEP).step,
        "gemm-ceiling": GemmCeiling(weights, args.batch).step,
    }
    for name, step in steps.items():
        print(f"{name}: {steps_per_second(step, x, y, args.steps):,.1f} steps/s")
    return 0


def steps_per_second(step: Callable, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    step(x, y)  # the first call touches every buffer: not timed
    start = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    return steps / (time.perf_counter() - start)


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(positive_int(part) for part in text.split(","))
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"needs two widths or more, like 64,128,10, got {text!r}")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
