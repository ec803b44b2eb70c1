"""scripts/train.py end to end: the shipped configs reach their accuracy, a run folder holds
everything, runs are reproducible bit for bit, and a NaN stops training with exit code 3.

The four accuracy runs take about 10 s together on the 2-core machine (most of it fsync).
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gategraph.experiments.config import load_config
from gategraph.saving.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def train(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def rows(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock column."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def params(path: Path) -> dict[str, np.ndarray]:
    state = load_checkpoint(path).state
    return state["params"]


def same_params(a: Path, b: Path) -> bool:
    pa, pb = params(a), params(b)
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """configs/mlp.yaml as shipped, trained once for the tests of this module."""
    cwd = tmp_path_factory.mktemp("mlp")
    done = train("--config", CONFIGS / "mlp.yaml", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / "mlp", done


# ---- the shipped configs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "split", "low", "high"),
    [
        ("spiral_svm", "val", 0.95, 1.0),
        ("linear_softmax", "val", 0.4, 0.6),  # a linear model cannot separate the spiral
        ("digits_mlp", "test", 0.96, 1.0),
    ],
)
def test_shipped_config_reaches_its_accuracy(
    tmp_path: Path, name: str, split: str, low: float, high: float
) -> None:
    # checkpoint frequency never changes results (tests/test_resume.py); fewer fsyncs here
    done = train(
        "--config", CONFIGS / f"{name}.yaml", "--set", "train.checkpoint_every_epochs=1000",
        "--out", tmp_path / name, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    assert low <= summary["final"][split]["acc"] <= high


def test_mlp_reaches_97_percent_validation_accuracy(mlp_run: tuple) -> None:
    run, _ = mlp_run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["val"]["acc"] >= 0.97


# ---- the run folder -------------------------------------------------------------------------


def test_run_folder_holds_every_file(mlp_run: tuple) -> None:
    run, done = mlp_run
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    assert files == [
        ".lock",
        "checkpoints",
        "checkpoints/best.npz",
        "checkpoints/last.npz",
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "summary.json",
    ]
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    summary = json.loads((run / "summary.json").read_text())
    best, last = (summary["checkpoints"][kind] for kind in ("best", "last"))
    assert done.stdout.splitlines() == [
        f"final: checkpoint best (after epoch {best['epoch']}): "
        f"train acc {best['metrics']['train']['acc']:.4f}, "
        f"val acc {best['metrics']['val']['acc']:.4f}; "
        f"checkpoint last (after epoch {last['epoch']}): "
        f"train acc {last['metrics']['train']['acc']:.4f}, "
        f"val acc {last['metrics']['val']['acc']:.4f}; run saved in runs/mlp"
    ]


def test_config_yaml_is_the_resolved_config(mlp_run: tuple) -> None:
    run, _ = mlp_run
    saved = load_config(run / "config.yaml")
    assert saved == load_config(CONFIGS / "mlp.yaml")
    assert saved["train"]["checkpoint_every_steps"] is None  # defaults are written out
    assert load_checkpoint(run / "checkpoints" / "last.npz").config == saved


def test_metrics_files_agree(mlp_run: tuple) -> None:
    run, _ = mlp_run
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    with open(run / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(lines[0]) == [
        "epoch", "train_loss", "train_penalty", "train_acc", "val_loss", "val_acc", "lr", "seconds"
    ]  # fmt: skip
    assert [row["epoch"] for row in lines] == list(range(1, len(lines) + 1))
    assert len(table) == len(lines)
    for row, record in zip(lines, table, strict=True):
        assert {k: float(v) for k, v in record.items()} == row  # full precision in both


def test_summary_matches_metrics_and_checkpoints(mlp_run: tuple) -> None:
    run, _ = mlp_run
    summary = json.loads((run / "summary.json").read_text())
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [row["val_loss"] for row in history]
    best = summary["best_epoch"]
    patience = load_config(run / "config.yaml")["train"]["early_stopping"]["patience"]
    assert summary["stopped_early"] and summary["epochs"] == len(history) == best + patience
    assert best == 1 + int(np.argmin(losses))
    assert summary["best"] == history[best - 1] and summary["last"] == history[-1]
    assert summary["final"]["val"]["loss"] == losses[best - 1]  # best weights restored
    assert summary["final_checkpoint"] == "best"
    best_state = load_checkpoint(run / "checkpoints" / "best.npz").state
    last_state = load_checkpoint(run / "checkpoints" / "last.npz").state
    assert best_state["progress"]["epoch"] == best
    assert last_state["progress"]["epoch"] == len(history) and last_state["progress"]["stopped"]
    assert last_state["history"] == history
    assert last_state["standardizer"]["mean"].shape == (2,)


def test_same_config_twice_is_identical_bit_for_bit(mlp_run: tuple, tmp_path: Path) -> None:
    first, _ = mlp_run
    done = train("--config", CONFIGS / "mlp.yaml", "--out", tmp_path / "again", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    second = tmp_path / "again"
    assert rows(first) == rows(second)
    for kind in ("best", "last"):
        assert same_params(
            first / "checkpoints" / f"{kind}.npz", second / "checkpoints" / f"{kind}.npz"
        )
    s1, s2 = (json.loads((r / "summary.json").read_text()) for r in (first, second))
    assert s1["final"] == s2["final"]


def test_an_earlier_run_is_never_overwritten(tmp_path: Path) -> None:
    quick = ("--config", CONFIGS / "linear_softmax.yaml", "--set", "train.epochs=1")
    for _ in range(3):
        assert train(*quick, cwd=tmp_path).returncode == 0
    assert (
        train(*quick, "--out", tmp_path / "runs" / "linear_softmax", cwd=tmp_path).returncode == 0
    )
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == ["linear_softmax", "linear_softmax-2", "linear_softmax-3", "linear_softmax-4"]
    first = rows(tmp_path / "runs" / "linear_softmax")
    assert len(first) == 1 and all(rows(tmp_path / "runs" / n) == first for n in names)


# ---- numerical faults -----------------------------------------------------------------------


def test_a_nan_stops_with_exit_code_3_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    done = train(
        "--config", CONFIGS / "mlp.yaml", "--set", "optim.lr=1e30", "--set", "schedule=null",
        "--set", "train.checkpoint_every_steps=1", "--out", tmp_path / "run", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    message = done.stderr
    assert message.startswith("error: non-finite value at step 2 (epoch 1, batch 2): loss = nan")
    assert "first non-finite gradient: affine0.W" in message
    assert "lower the learning rate (optim.lr) or clip gradients (train.clip_norm)" in message
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.npz").state
    assert last["progress"]["global_step"] == 1  # step 1's update, checked finite, then saved
    assert all(np.isfinite(w).all() for w in last["params"].values())
    assert not (tmp_path / "run" / "summary.json").exists()


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    done = train("--help", cwd=tmp_path)
    assert done.returncode == 0 and "--resume RUN_DIR" in done.stdout
    probe = (
        "import sys; sys.path.insert(0, 'scripts'); import train; "
        "train.parse_args(['--config', 'x.yaml']); "
        "print(sorted(m for m in ('numpy', 'yaml', 'models', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_run_folder_that_cannot_be_created_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "--config",
        str(ROOT / "configs" / "mlp.yaml"),
    ]
    done = subprocess.run(
        [*command, "--quiet", "--out", str(blocked / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot create the run folder: ")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
