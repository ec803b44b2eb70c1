"""Benchmark gategraph's training step against a hand-written NumPy reference and the GEMM ceiling.

gategraph runs twice: on the objects `build(config)` makes (`gategraph`) and in the training
loop the README teaches, a Sequential built in Python (`gategraph-loop`).

Run with the machine's BLAS defaults lifted, in that command only:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench.py [--json] [--quick]
Frameworks alternate within each round; the table reports the median steps/s over rounds,
each framework's ratio to the reference and its fraction of the GEMM-only ceiling (medians of
the ratios within each round, so a round the machine ran slow cancels out). PyTorch and JAX
join when installed (`pip install -e ".[bench]"`).
"""

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from _cli import Parser, non_negative_int, positive_int  # noqa: E402
from bench_conv import run as run_conv  # noqa: E402
from bench_conv import table as conv_table  # noqa: E402
from bench_reference import GemmCeiling, ReferenceMLP  # noqa: E402

WORKLOADS = {  # name: (layer sizes, batch)
    "tiny": ((2, 100, 3), 64),
    "small": ((64, 128, 10), 64),
    "medium": ((784, 512, 256, 10), 128),
    "large": ((784, 2048, 2048, 10), 512),
}
LR, MOMENTUM, WEIGHT_DECAY, N_BATCHES = 1e-2, 0.9, 1e-4, 8
BLAS_DEFAULTS = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"  # this machine's BLAS, unpinned


def gategraph_step(sizes: tuple[int, ...], batch: int, seed: int) -> tuple[Callable, list]:
    """A training step on the objects `build(config)` makes: Sequential, softmax CE, SGD."""
    from gategraph.experiments.build import build

    experiment = build(bench_config(sizes, seed))
    model, loss, optimizer = experiment.model, experiment.loss, experiment.optimizer

    def step(x: np.ndarray, y: np.ndarray) -> float:
        value = loss.forward(model.forward(x), y)
        dscores, _ = loss.backward()
        model.backward(dscores)
        optimizer.step()
        return value

    params = list(model.params().values())
    pairs = zip(params[::2], params[1::2], strict=True)
    weights = [(W.value.copy(), b.value.copy()) for W, b in pairs]
    return step, weights


def handwritten_step(weights: list) -> Callable:
    """The training loop as the README teaches it: a Sequential built in Python (the data
    needs no gradient by default), softmax CE and SGD, from the same initial weights."""
    from gategraph.layers.affine import Affine
    from gategraph.layers.relu import ReLU
    from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
    from gategraph.models.sequential import Sequential
    from gategraph.optim.sgd import SGD

    rng = np.random.default_rng(0)
    layers: list = []
    for W, b in weights:
        affine = Affine(*W.shape, rng=rng)
        affine.params["W"].value[...], affine.params["b"].value[...] = W, b
        layers += [affine, ReLU()]
    model = Sequential(layers[:-1])
    loss = SoftmaxCrossEntropy()
    args = {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY}
    optimizer = SGD(model.params().values(), **args)

    def step(x: np.ndarray, y: np.ndarray) -> float:
        value = loss.forward(model.forward(x), y)
        dscores, _ = loss.backward()  # the labels get no gradient
        model.backward(dscores)
        optimizer.step()
        return value

    return step


def bench_config(sizes: tuple[int, ...], seed: int) -> dict:
    """The workload as a training config (its data only sizes the model: steps use fixed
    random batches)."""
    layers: list[dict] = []
    for out_dim in sizes[1:]:
        layers += [{"type": "affine", "out_dim": out_dim}, {"type": "relu"}]
    data = {"name": "blobs", "n_samples": 10 * sizes[-1], "centers": sizes[-1]}
    return {
        "seed": seed,
        "dtype": "float32",
        "data": {**data, "n_features": sizes[0], "val_fraction": 0.0},
        "model": {"layers": layers[:-1], "loss": {"type": "softmax_cross_entropy"}},
        "optim": {"type": "sgd", "lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY},
    }


FRAMEWORKS = ("gategraph", "gategraph-loop", "numpy-reference", "gemm-ceiling", "pytorch", "jax")


def make_runner(framework: str, sizes: tuple[int, ...], batch: int, seed: int) -> Callable | None:
    """One framework's training step, from the same initial weights as every other (None when
    the framework is not installed)."""
    step, weights = gategraph_step(sizes, batch, seed)
    if framework == "gategraph":
        return step
    if framework == "gategraph-loop":
        return handwritten_step(weights)
    if framework == "numpy-reference":
        args = {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY}
        return ReferenceMLP(weights, batch, **args).step
    if framework == "gemm-ceiling":
        return GemmCeiling(weights, batch).step
    return OPTIONAL[framework](weights, batch)


def torch_runner(weights: list, batch: int) -> Callable | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    params = []
    for W, b in weights:
        params += [
            torch.tensor(W.T.copy(), requires_grad=True),
            torch.tensor(b, requires_grad=True),
        ]
    decayed, plain = params[0::2], params[1::2]
    opt = torch.optim.SGD(
        [{"params": decayed, "weight_decay": WEIGHT_DECAY}, {"params": plain, "weight_decay": 0}],
        lr=LR,
        momentum=MOMENTUM,
    )
    n = len(weights)

    def step(x: np.ndarray, y: np.ndarray) -> float:
        a = torch.from_numpy(x)
        for i in range(n):
            a = torch.nn.functional.linear(a, params[2 * i], params[2 * i + 1])
            if i < n - 1:
                a = torch.relu(a)
        loss = torch.nn.functional.cross_entropy(a, torch.from_numpy(y))
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def jax_runner(weights: list, batch: int) -> Callable | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in weights]
    velocity = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params]

    def loss_fn(params: list, x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
        a = x
        for i, (W, b) in enumerate(params):
            a = a @ W + b
            if i < len(params) - 1:
                a = jnp.maximum(a, 0)
        return -jnp.mean(jax.nn.log_softmax(a)[jnp.arange(len(y)), y])

    @functools.partial(jax.jit, donate_argnums=(0, 1))  # params and velocity update in place
    def update(params: list, velocity: list, x: jnp.ndarray, y: jnp.ndarray) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        new_p, new_v = [], []
        for (W, b), (vW, vb), (gW, gb) in zip(params, velocity, grads, strict=True):
            vW = MOMENTUM * vW + gW + WEIGHT_DECAY * W
            vb = MOMENTUM * vb + gb
            new_p.append((W - LR * vW, b - LR * vb))
            new_v.append((vW, vb))
        return new_p, new_v, loss

    state = {"p": params, "v": velocity}
    on_device: dict[int, tuple] = {}  # the fixed batches, put on the device once

    def step(x: np.ndarray, y: np.ndarray) -> float:
        xy = on_device.get(id(x))
        if xy is None:
            xy = on_device[id(x)] = (jnp.asarray(x), jnp.asarray(y))
        state["p"], state["v"], loss = update(state["p"], state["v"], *xy)
        return float(loss)  # waits for the step, as a loop that logs its loss does

    return step


OPTIONAL = {"pytorch": torch_runner, "jax": jax_runner}


def _batches(sizes: tuple[int, ...], batch: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((batch, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], batch),
        )
        for _ in range(N_BATCHES)
    ]


def worker(framework: str, workload: str, seed: int, seconds: float) -> None:
    """A framework in a process of its own: warms up (a step per batch, which compiles or
    allocates), measures how many steps make a block of about `seconds` and says so, then runs
    a block per line read from stdin and prints its seconds."""
    sizes, batch = WORKLOADS[workload]
    step = make_runner(framework, sizes, batch, seed)
    if step is None:
        print(json.dumps(None), flush=True)
        return
    batches = _batches(sizes, batch, seed)
    for batch_xy in batches:  # first calls compile (JAX's jit) or allocate: not timed
        step(*batch_xy)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 2 or n < 3:
        step(*batches[n % len(batches)])
        n += 1
    print(json.dumps(max(3, int(n * seconds / (time.perf_counter() - start)))), flush=True)
    for line in sys.stdin:
        start = time.perf_counter()
        for i in range(int(line)):
            step(*batches[i % len(batches)])
        print(json.dumps(time.perf_counter() - start), flush=True)


def bench_workload(name: str, rounds: int, seconds: float, seed: int) -> dict:
    """Every framework in its own process (thread pools never compete), blocks alternating
    round by round; steps/s median, min and max over the rounds."""
    workers, counts = {}, {}
    for fw in FRAMEWORKS:
        cmd = [sys.executable, __file__, "--worker", fw, "--workloads", name]
        cmd += ["--seed", str(seed), "--seconds", str(seconds)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        count = json.loads(proc.stdout.readline())
        if count is None:
            proc.communicate()
            continue
        workers[fw], counts[fw] = proc, count
    rates: dict[str, list[float]] = {fw: [] for fw in workers}
    for _ in range(rounds):
        for fw, proc in workers.items():
            time.sleep(0.2)  # the last block's BLAS threads go idle before the next one starts
            proc.stdin.write(f"{counts[fw]}\n")
            proc.stdin.flush()
            rates[fw].append(counts[fw] / json.loads(proc.stdout.readline()))
    for proc in workers.values():
        proc.communicate()
    ref, ceiling = rates["numpy-reference"], rates["gemm-ceiling"]
    return {
        fw: {
            "median": statistics.median(r),
            "min": min(r),
            "max": max(r),
            "ratio_to_reference": _paired(r, ref),
            "fraction_of_ceiling": _paired(r, ceiling),
        }
        for fw, r in rates.items()
    }


def _paired(rates: list[float], base: list[float]) -> float:
    """Median over rounds of rate / base rate in the same round: a round the machine ran
    slow for everyone cancels out, where a ratio of medians would carry it."""
    return statistics.median(r / b for r, b in zip(rates, base, strict=True))


def bench_gradcheck(repeats: int = 5) -> dict[str, dict[str, float]]:
    """The checker's modes on Affine x (32, 100) @ W (100, 50) in float64, against
    torch.autograd.gradcheck (full and fast_mode) when torch is installed."""
    from gategraph.gradcheck.check import gradcheck
    from gategraph.layers.affine import Affine

    rng = np.random.default_rng(0)
    layer, x = Affine(100, 50, rng=rng, dtype=np.float64), rng.standard_normal((32, 100))
    runs: dict[str, Callable[[], object]] = {
        "gategraph full": lambda: gradcheck(layer, x, np.random.default_rng(1), mode="full"),
        "gategraph sparse (k=10)": lambda: gradcheck(
            layer, x, np.random.default_rng(1), mode="sparse", k=10
        ),
        "gategraph fast (3 directions)": lambda: gradcheck(
            layer, x, np.random.default_rng(1), mode="fast", directions=3
        ),
    }
    runs.update(_torch_gradchecks(layer, x))
    out = {}
    for name, run in runs.items():
        times = []
        for _ in range(repeats if "full" not in name else 2):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        out[name] = {"ms": 1e3 * statistics.median(times)}
    return out


def _torch_gradchecks(layer: object, x: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
    except ImportError:
        return {}
    W = torch.tensor(layer.params["W"].value, requires_grad=True)
    b = torch.tensor(layer.params["b"].value, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)

    def f(x: "torch.Tensor", W: "torch.Tensor", b: "torch.Tensor") -> "torch.Tensor":
        return x @ W + b

    check = torch.autograd.gradcheck
    return {
        "torch gradcheck full": lambda: check(f, (xt, W, b)),
        "torch gradcheck fast_mode": lambda: check(f, (xt, W, b), fast_mode=True),
    }


def bench_gradient_graphs(repeats: int = 40, seed: int = 0) -> dict[str, float]:
    """Gradient graphs of the medium MLP's loss (float32), each timed right after a
    `forward` + `backward` of the same graph; median over repeats of the time ratios:
    all param gradients as adjoint nodes (`run`), and a Hessian-vector product over all
    params both ways (forward-over-reverse, reverse-over-reverse)."""
    from gategraph.experiments.build import build
    from gategraph.experiments.sanity import model_with_loss
    from gategraph.models.autodiff import hvp_nodes

    sizes, batch = WORKLOADS["medium"]
    experiment = build(bench_config(sizes, seed))
    graph, labels = model_with_loss(experiment.model, experiment.loss)
    loss, wrt = graph.output_name, list(graph.params())
    grads = graph.gradients(loss, wrt)
    x, y = _batches(sizes, batch, seed)[0]
    feeds = {"x": x, labels: y}
    rng = np.random.default_rng(seed)
    runs: dict[str, Callable[[], object]] = {
        "forward + backward": lambda: (graph.forward(**feeds), graph.backward()),
        "gradient graph, all params": lambda: graph.run([grads[w] for w in wrt], **feeds),
    }
    for mode in ("forward-over-reverse", "reverse-over-reverse"):
        outs, inputs = hvp_nodes(graph, loss, wrt, mode)
        vectors = {
            inputs[w]: rng.standard_normal(p.value.shape).astype(np.float32)
            for w, p in graph.params().items()
        }
        runs[f"HVP, all params, {mode}"] = functools.partial(
            graph.run, list(outs.values()), **feeds, **vectors
        )
    ratios: dict[str, list[float]] = {name: [] for name in runs}
    for k in range(repeats + 2):
        times = {}
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name] = time.perf_counter() - start
        for name in runs if k >= 2 else ():  # two warm-up rounds
            ratios[name].append(times[name] / times["forward + backward"])
    return {name: statistics.median(r) for name, r in ratios.items()}


def child_memory(framework: str, seed: int) -> None:
    """Run every workload a few steps under one framework; print peak RSS in MiB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for sizes, batch in WORKLOADS.values():
        step = make_runner(framework, sizes, batch, seed)
        if step is None:
            print(json.dumps(None))
            return
        x, y = _batches(sizes, batch, seed)[0]
        for _ in range(3):
            step(x, y)
        del step
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"after_import": before / 1024, "peak": peak / 1024}))


def _child_gradcheck() -> dict:
    """The checker timings in a fresh process, away from the workloads' thread pools."""
    cmd = [sys.executable, __file__, "--child-gradcheck"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child_autodiff(repeats: int) -> dict:
    """The gradient-graph ratios in a fresh process, away from the workloads' thread pools."""
    cmd = [sys.executable, __file__, "--child-autodiff", "--rounds", str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(frameworks: list[str], seed: int) -> dict:
    out = {}
    for fw in frameworks:
        cmd = [sys.executable, __file__, "--child-memory", fw, "--seed", str(seed)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[fw] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def startup(repeats: int = 5) -> dict:
    commands = {
        "import": [
            sys.executable,
            "-c",
            "import gategraph.layers, gategraph.losses, gategraph.optim, gategraph.models",
        ],
        "train.py --help": [sys.executable, str(ROOT / "scripts" / "train.py"), "--help"],
    }
    out = {}
    for label, cmd in commands.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        out[label] = statistics.median(times)
    return out


def markdown(results: dict, mem: dict, start: dict, checks: dict, autodiff: dict) -> str:
    lines = [
        "| workload | framework | steps/s median (min-max) | ratio to reference | "
        "fraction of GEMM ceiling |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for workload, rows in results.items():
        for fw, r in rows.items():
            lines.append(
                f"| {workload} | {fw} | {r['median']:,.1f} ({r['min']:,.1f}-{r['max']:,.1f}) | "
                f"{r['ratio_to_reference']:.2f} | {r['fraction_of_ceiling']:.2f} |"
            )
    if mem:
        lines += [
            "",
            "| framework | RSS after import (MiB) | peak RSS, tiny..large (MiB) |",
            "| --- | ---: | ---: |",
        ]
        for fw, m in mem.items():
            if m:
                lines.append(f"| {fw} | {m['after_import']:.0f} | {m['peak']:.0f} |")
    if start:
        lines += ["", "| start-up | seconds (median of 5) |", "| --- | ---: |"]
        lines += [f"| `{label}` | {t:.3f} |" for label, t in start.items()]
    if checks:
        lines += [
            "",
            "| gradient check, Affine (32, 100) @ (100, 50), float64 | ms |",
            "| --- | ---: |",
        ]
        lines += [f"| {name} | {r['ms']:.2f} |" for name, r in checks.items()]
    if autodiff:
        lines += [
            "",
            "| medium MLP loss, float32 | time / (forward + backward) |",
            "| --- | ---: |",
        ]
        lines += [f"| {name} | {ratio:.2f} |" for name, ratio in autodiff.items()]
    return "\n".join(lines)


def main() -> int:
    parser = Parser(
        prog="bench.py",
        description=__doc__.splitlines()[0],
        examples=[
            f"{BLAS_DEFAULTS} python scripts/bench.py",
            f"{BLAS_DEFAULTS} python scripts/bench.py --quick --workloads tiny,small --json",
        ],
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--rounds", type=positive_int, default=7, help="timed rounds per workload")
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one timed block")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the weights and batches"
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.1 s blocks")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS processes")
    parser.add_argument("--no-gradcheck", action="store_true", help="skip the checker timings")
    parser.add_argument("--no-conv", action="store_true", help="skip the conv workload")
    parser.add_argument("--no-autodiff", action="store_true", help="skip the gradient-graph ratios")
    parser.add_argument("--child-autodiff", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", help=argparse.SUPPRESS)
    parser.add_argument("--child-gradcheck", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.workloads, args.seed, args.seconds)
        return 0
    if args.child_memory:
        child_memory(args.child_memory, args.seed)
        return 0
    if args.child_gradcheck:
        print(json.dumps(bench_gradcheck()))
        return 0
    if args.child_autodiff:
        print(json.dumps(bench_gradient_graphs(args.rounds)))
        return 0
    if args.quick:
        args.rounds, args.seconds = 3, 0.1
    names = [w for w in args.workloads.split(",") if w]
    if unknown := [w for w in names if w not in WORKLOADS]:
        parser.error(f"--workloads: unknown {unknown}; valid: {', '.join(WORKLOADS)}")
    results = {w: bench_workload(w, args.rounds, args.seconds, args.seed) for w in names}
    frameworks = list(next(iter(results.values())))
    mem = {} if args.no_memory else memory(frameworks, args.seed)
    start = startup()
    checks = {} if args.no_gradcheck else _child_gradcheck()
    conv = None if args.no_conv else run_conv(repeats=args.rounds, block=3)
    autodiff = {} if args.no_autodiff else _child_autodiff(5 * args.rounds)
    skipped = [fw for fw in FRAMEWORKS if fw not in frameworks]  # not installed
    if args.json:
        report = {"workloads": results, "memory_mib": mem, "startup_s": start, "gradcheck": checks}
        report["gradient_graphs"] = autodiff
        print(json.dumps({**report, "conv": conv, "skipped": skipped}, indent=2))
    else:
        print(markdown(results, mem, start, checks, autodiff))
        if skipped:
            said = ", ".join(skipped)
            print(f'\nnot installed, so not measured: {said} (pip install -e ".[bench]")')
        if conv is not None:
            print(f"\n{conv_table(conv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
