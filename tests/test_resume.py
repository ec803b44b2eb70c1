"""Exact resume through the CLI: a real training process killed (SIGKILL mid-epoch) or stopped
(SIGTERM, SIGINT) at a random step, resumed, ends bit for bit where an uninterrupted run ends;
a changed config is refused unless the change is safe."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gategraph.saving.checkpoint import CheckpointError, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TRAIN = [sys.executable, str(ROOT / "scripts" / "train.py")]
# mlp.yaml for 60 epochs of 8 steps, a checkpoint every 5 steps: most land mid-epoch
LONG = (
    "--config", str(CONFIGS / "mlp.yaml"), "--set", "train.epochs=60",
    "--set", "train.checkpoint_every_steps=5", "--set", "train.checkpoint_every_epochs=1000",
)  # fmt: skip


def train(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TRAIN, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def rows(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def assert_same_run(run: Path, reference: Path) -> None:
    """Same metrics (bar wall time), same weights in both checkpoints, same final metrics."""
    assert rows(run) == rows(reference)
    for kind in ("best", "last"):
        got = load_checkpoint(run / "checkpoints" / f"{kind}.npz").state
        want = load_checkpoint(reference / "checkpoints" / f"{kind}.npz").state
        assert got["params"].keys() == want["params"].keys()
        for name in want["params"]:
            assert np.array_equal(got["params"][name], want["params"][name]), (kind, name)
        for name in ("optimizer", "rng", "schedule"):
            assert json.dumps(got[name], default=np.ndarray.tolist) == json.dumps(
                want[name], default=np.ndarray.tolist
            )
    final = [json.loads((r / "summary.json").read_text())["final"] for r in (run, reference)]
    assert final[0] == final[1]


def progress(run: Path) -> dict | None:
    """The progress in last.npz, or None before the first checkpoint exists."""
    try:
        return load_checkpoint(run / "checkpoints" / "last.npz").state["progress"]
    except CheckpointError:
        return None


def wait_for_step(process: subprocess.Popen, run: Path, step: int) -> None:
    deadline = time.monotonic() + 120
    while (p := progress(run)) is None or p["global_step"] < step:
        assert process.poll() is None, f"training ended before step {step}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every interrupted one must equal."""
    cwd = tmp_path_factory.mktemp("reference")
    done = train(*LONG, "--out", cwd / "run", "--quiet", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "run"


def test_sigkill_mid_epoch_then_resume_is_identical(reference: Path, tmp_path: Path) -> None:
    run, target = tmp_path / "run", random.randint(10, 300)
    process = subprocess.Popen([*TRAIN, *LONG, "--out", str(run)], cwd=tmp_path)
    while True:  # freeze the process, and kill it only if its checkpoint is mid-epoch
        wait_for_step(process, run, target)
        process.send_signal(signal.SIGSTOP)
        at = progress(run)
        if at is not None and at["step"] > 0:
            process.kill()
            break
        process.send_signal(signal.SIGCONT)
        target = at["global_step"] + 1 if at else target
    assert process.wait() == -signal.SIGKILL
    assert not (run / "summary.json").exists()
    done = train("--resume", run, cwd=tmp_path)
    assert done.returncode == 0, f"target step {target}: {done.stderr}"
    assert_same_run(run, reference)
    assert not list(run.rglob("*.tmp"))  # a write cut short by the kill was cleaned up


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_says_how_to_resume_and_resumes_identically(
    reference: Path, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    run = tmp_path / "run"
    process = subprocess.Popen(
        [*TRAIN, *LONG, "--out", str(run)], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    wait_for_step(process, run, random.randint(10, 300))
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    at = progress(run)
    where = (
        f"in epoch {at['epoch'] + 1} after step {at['step']}"
        if at["step"]
        else (f"after epoch {at['epoch']}")
    )
    assert stderr == (
        f"stopped by {signum.name} {where}; checkpoint saved in run/checkpoints/last.npz; "
        "resume with: python scripts/train.py --resume run\n"
    )
    done = train("--resume", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_same_run(run, reference)


# ---- config changes -------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_changed_config_is_refused_listing_the_keys(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train("--config", CONFIGS / "linear_softmax.yaml", "--set", "train.epochs=2",
                 "--out", run, cwd=tmp_path).returncode == 0  # fmt: skip
    before = snapshot(run)
    done = train("--resume", run, "--set", "optim.lr=0.5", "--set", "seed=3", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"error: cannot resume {run} with a changed config: seed (0 -> 3), optim.lr (0.1 -> 0.5); "
        "only train.checkpoint_every_epochs, train.checkpoint_every_steps, "
        "train.early_stopping.patience, train.epochs may change (start a new run for anything "
        "else)\n"
    )
    assert snapshot(run) == before


def test_more_epochs_continue_exactly_like_a_longer_run(tmp_path: Path) -> None:
    short, longer = tmp_path / "short", tmp_path / "longer"
    config = ("--config", CONFIGS / "linear_softmax.yaml")
    assert train(*config, "--set", "train.epochs=3", "--out", short, cwd=tmp_path).returncode == 0
    assert train(*config, "--set", "train.epochs=5", "--out", longer, cwd=tmp_path).returncode == 0
    done = train("--resume", short, "--set", "train.epochs=5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(rows(short)) == 5
    assert_same_run(short, longer)
    assert (short / "config.yaml").read_text() == (longer / "config.yaml").read_text()


def test_more_epochs_are_refused_under_a_cosine_schedule(tmp_path: Path) -> None:
    run = tmp_path / "run"
    quick = ("--set", "train.epochs=6", "--set", "train.early_stopping=null")
    assert (
        train("--config", CONFIGS / "mlp.yaml", *quick, "--out", run, cwd=tmp_path).returncode == 0
    )
    before = snapshot(run)
    done = train("--resume", run, "--set", "train.epochs=8", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "changed config: train.epochs (6 -> 8); only train.checkpoint_every_epochs" in done.stderr
    )
    assert snapshot(run) == before


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = train("--config", CONFIGS / "linear_softmax.yaml", "--set", "train.epochs=2",
                  "--out", run, cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    before = snapshot(run)
    again = train("--resume", run, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == (
        "nothing to train: run has trained 2 epochs, train.epochs is 2; give a larger "
        "train.epochs to train more; the run folder is left as it was\n"
    )
    after = snapshot(run)
    assert after.keys() == before.keys()
    for name in ("metrics.jsonl", "metrics.csv", "config.yaml", "summary.json"):
        assert after[name] == before[name], name


def test_resuming_on_changed_data_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 2)), np.arange(30) % 3
    np.savez(tmp_path / "data.npz", X=X, y=y)
    config = tmp_path / "file.yaml"
    config.write_text(
        "data: {name: file, path: data.npz, val_fraction: 0.2}\n"
        "model: {layers: [{type: affine, out_dim: 3}], loss: {type: softmax_cross_entropy}}\n"
        "optim: {type: sgd, lr: 0.1}\ntrain: {epochs: 1}\n"
    )
    assert train("--config", config, "--out", tmp_path / "run", cwd=tmp_path).returncode == 0
    X[:, 0] = X[::-1, 0]  # one feature of the samples reordered
    np.savez(tmp_path / "data.npz", X=X, y=y)
    done = train("--resume", "run", "--set", "train.epochs=2", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "error: cannot resume run: the training data differs from the checkpoint's "
        "(the data file or data options changed)\n"
    )


def test_a_folder_another_process_trains_in_is_refused_untouched(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train("--config", CONFIGS / "linear_softmax.yaml", "--set", "train.epochs=2",
                 "--out", run, cwd=tmp_path).returncode == 0  # fmt: skip
    before = snapshot(run)
    holder = subprocess.Popen(  # stands in for a training process still running there
        [sys.executable, "-c", "import sys, time; from gategraph.saving.run import Run; "
         f"held = Run({str(run)!r}).lock(); print('locked', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "locked\n"
        done = train("--resume", run, "--set", "train.epochs=3", cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr == (
            f"error: {run}: another process is training in this run folder; wait for it to end "
            "(or stop it), then resume\n"
        )
        assert snapshot(run) == before
    finally:
        holder.kill()  # a killed holder's lock goes with it
        holder.wait()
    done = train("--resume", run, "--set", "train.epochs=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(rows(run)) == 3
