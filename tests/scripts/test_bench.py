"""scripts/bench.py runs every framework on a workload and reports ratios (timings are never
asserted: only that the report is complete and consistent)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_reports_every_framework_with_ratios_to_the_same_run_reference() -> None:
    command = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--workloads", "tiny"]
    command += ["--rounds", "1", "--seconds", "0.02", "--no-memory", "--no-conv", "--json"]
    # one OpenMP thread: on a loaded machine torch's spinning threads made its full gradcheck
    # 25x slower (43 s a run); nothing here is timed
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    tiny = report["workloads"]["tiny"]
    always = {"gategraph", "gategraph-loop", "numpy-reference", "gemm-ceiling"}
    assert always <= set(tiny)
    modules = {"pytorch": "torch", "jax": "jax"}
    installed = {fw for fw, module in modules.items() if importlib.util.find_spec(module)}
    assert set(tiny) - always == installed
    assert report["skipped"] == [fw for fw in modules if fw not in installed]
    assert tiny["numpy-reference"]["ratio_to_reference"] == 1.0
    assert tiny["gemm-ceiling"]["fraction_of_ceiling"] == 1.0
    for row in tiny.values():
        assert row["min"] <= row["median"] <= row["max"]
        ratio = row["median"] / tiny["numpy-reference"]["median"]
        assert abs(row["ratio_to_reference"] - ratio) < 1e-12
    assert set(report["startup_s"]) == {"import", "train.py --help"}
    assert {"gategraph full", "gategraph sparse (k=10)"} <= set(report["gradcheck"])
    ratios = report["gradient_graphs"]
    assert ratios["forward + backward"] == 1.0 and len(ratios) == 4
    assert all(ratio > 0 for ratio in ratios.values())


def test_bench_refuses_an_unknown_workload() -> None:
    command = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--workloads", "huge"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert (
        done.stderr == "error: --workloads: unknown ['huge']; valid: tiny, small, medium, large "
        "(see bench.py --help)\n"
    )


def test_ratios_pair_each_round_with_the_same_rounds_reference() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import _paired

    # per round 1.0, 2.0, 3.0: median 2.0 (a ratio of the medians would say 12 / 10 = 1.2)
    assert _paired([10.0, 12.0, 30.0], [10.0, 6.0, 10.0]) == 2.0
    assert _paired([5.0], [4.0]) == 1.25


def test_the_hand_written_loop_trains_like_the_config_path() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import WORKLOADS, _batches, gategraph_step, handwritten_step

    sizes, batch = WORKLOADS["tiny"]
    built, weights = gategraph_step(sizes, batch, seed=0)
    loop = handwritten_step(weights)
    batches = _batches(sizes, batch, seed=0)
    for x, y in batches * 2:  # same weights, same updates: the same losses
        assert abs(built(x, y) - loop(x, y)) < 1e-5
