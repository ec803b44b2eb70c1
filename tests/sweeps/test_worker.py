"""Workers: processes share one study, run exactly its budget, never a grid point twice, prune
hopeless trials, retry the trial of a worker killed mid-trial, and stop on request."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason='needs the sweep extra (pip install -e ".[sweep]")')

from gategraph.experiments.config import load_config  # noqa: E402
from gategraph.saving.checkpoint import load_checkpoint  # noqa: E402
from gategraph.saving.run import Run  # noqa: E402
from gategraph.sweeps.spec import load_sweep  # noqa: E402
from gategraph.sweeps.storage import JOURNAL, connect, load_study, open_study, read_info  # noqa: E402
from gategraph.sweeps.worker import Worker, _session  # noqa: E402

POSTGRES = os.environ.get("GATEGRAPH_TEST_POSTGRES_URL")
COMPLETE, PRUNED, FAIL = (optuna.trial.TrialState[s] for s in ("COMPLETE", "PRUNED", "FAIL"))
SCRIPT = Path(__file__).parents[2] / "scripts" / "sweep.py"
ROOT = Path(__file__).parents[2]


def _study(folder: Path) -> "optuna.Study":
    info = read_info(folder)
    return load_study(info["study"], info["storage"])


def test_two_worker_processes_run_exactly_the_requested_trials(
    write_sweep: Callable, run_cli: Callable, tmp_path: Path
) -> None:
    path = write_sweep(
        "base: base.yaml\ntrials: 6\nsampler: {type: random, seed: 0}\npruner: none\n"
        "set: {train.epochs: 30}\nspace:\n  optim.lr: {log_uniform: [1e-3, 1.0]}\n"
        "  model.layers[0].out_dim: {int: [4, 32]}\n"
    )
    out = tmp_path / "out"
    done = run_cli("--config", path, "--workers", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    study = _study(out)
    assert [t.state for t in study.trials] == [COMPLETE] * 6  # and no trial beyond the budget
    assert sorted(p.name for p in out.glob("trial-*")) == [f"trial-{i:04d}" for i in range(6)]
    for trial in study.trials:
        summary = json.loads((out / trial.user_attrs["run"] / "summary.json").read_text())
        assert summary["epochs"] == 30
        assert summary["final"]["val"]["acc"] == trial.value
    with open(out / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val_acc"]) for r in rows] == sorted(
        (t.value for t in study.trials), reverse=True
    )
    assert list(rows[0])[:6] == [
        "rank",
        "trial",
        "state",
        "val_acc",
        "optim.lr",
        "model.layers[0].out_dim",
    ]
    assert "sweep sweep: 6 complete" in done.stdout.splitlines()


def test_a_grid_of_8_points_with_2_workers_runs_each_point_once(
    write_sweep: Callable, run_cli: Callable, tmp_path: Path
) -> None:
    path = write_sweep(
        "base: base.yaml\nsampler: grid\npruner: none\nset: {train.epochs: 10}\nspace:\n"
        "  optim.lr: {choice: [0.05, 0.2]}\n  optim.momentum: {choice: [0.0, 0.9]}\n"
        "  model.layers[0].out_dim: {choice: [8, 16]}\n"
    )
    out = tmp_path / "out"
    done = run_cli("--config", path, "--workers", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    study = _study(out)
    points = [tuple(t.params.values()) for t in study.trials]
    assert [t.state for t in study.trials] == [COMPLETE] * 8
    assert sorted(points) == [
        (lr, m, h) for lr in (0.05, 0.2) for m in (0.0, 0.9) for h in (8, 16)
    ]  # each point once, none left out


def test_pruning_stops_a_hopeless_trial_early(write_sweep: Callable, tmp_path: Path) -> None:
    path = write_sweep(
        "base: base.yaml\nmetric: val_loss\nsampler: grid\n"
        "pruner: {type: median, startup_trials: 2, warmup_epochs: 4}\nset: {train.epochs: 20}\n"
        "space:\n  optim.lr: {choice: [0.3, 0.1, 1.0e-6]}\n"
    )
    sweep, out = load_sweep(path), tmp_path / "out"
    out.mkdir()
    assert Worker(sweep, str(out / JOURNAL), out).run() == 3
    good, fine, hopeless = load_study(sweep.name, str(out / JOURNAL)).trials
    assert (good.state, fine.state, hopeless.state) == (COMPLETE, COMPLETE, PRUNED)
    stopped = max(hopeless.intermediate_values)
    assert stopped == 4  # the first epoch the median pruner may judge
    assert hopeless.intermediate_values[4] > max(
        good.intermediate_values[4], fine.intermediate_values[4]
    )
    rows = (out / hopeless.user_attrs["run"] / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3, 4]
    assert len((out / good.user_attrs["run"] / "metrics.jsonl").read_text().splitlines()) == 20


def test_a_trial_folder_resumes_with_train_py_like_a_straight_run(
    write_sweep: Callable, tmp_path: Path
) -> None:
    path = write_sweep(
        "base: base.yaml\nsampler: grid\npruner: none\nspace:\n  optim.lr: {choice: [0.2]}\n"
    )
    sweep, out = load_sweep(path), tmp_path / "out"
    out.mkdir()
    assert Worker(sweep, str(out / JOURNAL), out).run() == 1
    trial = out / "trial-0000"
    train = [sys.executable, str(SCRIPT.parent / "train.py"), "--quiet", "--set", "train.epochs=8"]
    done = subprocess.run([*train, "--resume", trial], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*train, "--config", trial / "config.yaml", "--out", tmp_path / "straight"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    resumed, straight = (
        load_checkpoint(folder / "checkpoints" / "last.npz").state
        for folder in (trial, tmp_path / "straight")
    )
    assert resumed["progress"]["epoch"] == straight["progress"]["epoch"] == 8
    assert resumed["data_sha256"] == straight["data_sha256"]
    for name in ("mean", "std"):
        np.testing.assert_array_equal(resumed["standardizer"][name], straight["standardizer"][name])
    for name, value in straight["params"].items():
        np.testing.assert_array_equal(resumed["params"][name], value)


@pytest.fixture(params=["journal", "postgresql"])
def storage(request: pytest.FixtureRequest) -> str | None:
    """None for the default journal file, or the URL of a real PostgreSQL server."""
    if request.param == "journal":
        return None
    if not POSTGRES:
        pytest.skip("GATEGRAPH_TEST_POSTGRES_URL is unset (.ci/postgres.sh starts a server)")
    return POSTGRES


def test_a_worker_killed_mid_trial_leaves_a_failed_trial_that_is_retried(
    write_sweep: Callable, tmp_path: Path, storage: str | None, study_name: str, one_thread: dict
) -> None:
    path = write_sweep(
        f"base: base.yaml\nname: {study_name}\ntrials: 3\nsampler: {{type: random, seed: 0}}\n"
        "pruner: none\nheartbeat: {interval: 1, grace_period: 5}\nset: {train.epochs: 150}\n"
        "space:\n  optim.lr: {log_uniform: [1e-2, 0.3]}\n"
    )
    sweep, out = load_sweep(path), tmp_path / "out"
    url = storage or str(out / JOURNAL)
    out.mkdir()
    study = open_study(sweep, connect(url, sweep.heartbeat))  # as `sweep.py` does before workers
    victim, survivor = (_worker(path, out, i, storage, one_thread) for i in range(2))
    try:
        killed = _kill_mid_trial(study, victim)
        assert survivor.wait(timeout=120) == 0
    finally:
        for worker in (victim, survivor):
            worker.kill()
            worker.wait()
    trials = study.get_trials()
    seen = [(t.number, t.state.name, t.system_attrs.get("failed_trial")) for t in trials]
    assert trials[killed].state == FAIL, seen
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert [t.state for t in retries] == [COMPLETE], seen  # retried once, by the survivor
    assert retries[0].user_attrs["run"] == trials[killed].user_attrs["run"]  # resumed in place
    assert min(retries[0].intermediate_values) == 1  # epochs from before the kill, re-reported
    assert [t.state for t in trials].count(COMPLETE) == 3 and len(trials) == 4, seen
    summary = json.loads((out / retries[0].user_attrs["run"] / "summary.json").read_text())
    assert summary["epochs"] == 150


def _worker(path: Path, out: Path, index: int, storage: str | None, env: dict) -> subprocess.Popen:
    """A worker process, as `sweep.py --workers N` starts N of them."""
    command = [sys.executable, str(SCRIPT), "--config", str(path), "--out", str(out)]
    command += ["--storage", storage] if storage else []
    return subprocess.Popen(
        [*command, "--worker-index", str(index)], env=env, stdout=subprocess.DEVNULL
    )


def _kill_mid_trial(study: "optuna.Study", victim: subprocess.Popen) -> int:
    """SIGKILL `victim` once a trial it runs has trained two epochs; that trial's number."""
    me = f"{socket.gethostname()}:{victim.pid}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if trial.user_attrs.get("worker") == me and len(trial.intermediate_values) >= 2:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                return trial.number
        time.sleep(0.02)
    raise AssertionError("the victim never ran a trial")


def test_a_stopped_worker_queues_its_trial_again_and_the_next_run_resumes_it(
    write_sweep: Callable, tmp_path: Path
) -> None:
    path = write_sweep(
        "base: base.yaml\ntrials: 1\nsampler: {type: random, seed: 0}\npruner: none\n"
        "set: {train.epochs: 200}\nspace:\n  optim.lr: {log_uniform: [1e-2, 0.3]}\n"
    )  # long enough that the stop request lands mid-run even on a loaded machine
    sweep, out = load_sweep(path), tmp_path / "out"
    out.mkdir()
    worker = Worker(sweep, str(out / JOURNAL), out)
    threading.Thread(target=_stop_after_epochs, args=(worker, 5), daemon=True).start()
    assert worker.run() == 1
    first = load_study(sweep.name, str(out / JOURNAL)).trials
    assert [t.state for t in first] == [FAIL, optuna.trial.TrialState.WAITING]
    assert first[0].user_attrs["error"] == "stopped by request; queued again to resume"
    assert Worker(sweep, str(out / JOURNAL), out).run() == 1  # the same sweep, run again
    trials = load_study(sweep.name, str(out / JOURNAL)).trials
    assert [t.state for t in trials] == [FAIL, COMPLETE]
    assert trials[1].params == trials[0].params
    assert trials[1].user_attrs["run"] == "trial-0000"
    rows = (out / "trial-0000" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == list(range(1, 201))


def _stop_after_epochs(worker: Worker, epochs: int) -> None:
    while (session := worker._session) is None or session.trainer.progress.epoch < epochs:
        time.sleep(0.005)
    worker.request_stop()


def test_a_trial_folder_another_process_still_trains_is_left_alone(tmp_path: Path) -> None:
    # the retry of a trial whose worker only looked dead: its folder is locked, so the retry
    # starts afresh beside it instead of writing into a run that is still being written
    config = load_config(ROOT / "configs" / "linear_softmax.yaml", ["train.epochs=1"])
    first = _session(config, tmp_path / "trial-0003")
    first.open()  # the folder, its step-0 checkpoint, and the lock of a live trainer
    retry = _session(config, tmp_path / "trial-0003")
    assert not retry.resuming
    assert retry.open().folder == tmp_path / "trial-0003-2"
    first.fit()  # releases the first lock: now a retry resumes the folder itself
    again = _session(config, tmp_path / "trial-0003")
    assert again.resuming and again.open().folder == tmp_path / "trial-0003"
    assert Run(tmp_path / "trial-0003").checkpoint("last").is_file()
