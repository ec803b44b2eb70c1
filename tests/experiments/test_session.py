"""Session: nothing written before open(), what a new folder holds, stopping from after_epoch,
exact resume through the API, what every checkpoint carries, and the resume refusals."""

import json
from pathlib import Path

import numpy as np
import pytest

from gategraph.experiments.config import apply_overrides, resolve_config
from gategraph.experiments.resume import data_fingerprint
from gategraph.experiments.session import Session
from gategraph.saving.checkpoint import load_checkpoint
from gategraph.saving.run import Run, RunInUseError

RAW = {
    "seed": 0,
    "data": {"name": "spiral", "n_per_class": 30, "classes": 3, "val_fraction": 0.2},
    "model": {
        "layers": [
            {"type": "affine", "out_dim": 8},
            {"type": "relu"},
            {"type": "affine", "out_dim": 3},
        ],
        "loss": {"type": "softmax_cross_entropy"},
    },
    "optim": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
    "train": {"epochs": 6, "batch_size": 32},
}
CONFIG = resolve_config(RAW)


def _last(folder: Path) -> dict:
    return load_checkpoint(folder / "checkpoints" / "last.npz").state


def test_nothing_is_written_before_open_and_a_new_folder_starts_at_step_0(tmp_path: Path) -> None:
    session = Session.start(CONFIG, tmp_path / "run", quiet=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="open"):
        session.summarize()
    run = session.open()
    assert session.open() is run  # once only
    assert sorted(p.name for p in run.folder.rglob("*")) == [
        ".lock",
        "checkpoints",
        "config.yaml",
        "last.npz",
    ]
    state = _last(run.folder)
    assert state["progress"]["global_step"] == 0
    assert state["data_sha256"] == data_fingerprint(*session.experiment.splits.train)
    standardizer = session.experiment.standardizer
    np.testing.assert_array_equal(state["standardizer"]["mean"], standardizer.mean)
    np.testing.assert_array_equal(state["standardizer"]["std"], standardizer.std)
    taken = Session.start(CONFIG, tmp_path / "run", quiet=True).open()
    assert taken.folder == tmp_path / "run-2"  # an earlier run is never overwritten


def test_after_epoch_stops_and_resume_ends_where_a_straight_run_does(tmp_path: Path) -> None:
    straight = Session.start(CONFIG, tmp_path / "straight", quiet=True)
    straight.fit()
    summary = straight.summarize()
    assert not straight.interrupted and summary["epochs"] == 6

    seen: list[int] = []
    first = Session.start(CONFIG, tmp_path / "split", quiet=True)
    first.fit(lambda row: seen.append(row["epoch"]) or row["epoch"] == 2)
    assert first.interrupted and seen == [1, 2]
    assert _last(first.run.folder)["progress"]["epoch"] == 2
    lines = (first.run.folder / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]

    with open(first.run.folder / "metrics.jsonl", "a") as f:  # as a crash before a save leaves it
        f.write(json.dumps({"epoch": 3}) + "\n")
    resumed = Session.resume(tmp_path / "split", quiet=True)
    assert resumed.trainer.progress.epoch == 2
    lines = (resumed.open().folder / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # matches the checkpoint
    resumed.fit()
    assert resumed.summarize()["final"] == summary["final"]
    a, b = _last(tmp_path / "straight"), _last(tmp_path / "split")
    for name, value in a["params"].items():
        np.testing.assert_array_equal(b["params"][name], value)


def test_resume_takes_only_safe_config_changes(tmp_path: Path) -> None:
    Session.start(CONFIG, tmp_path / "run", quiet=True).open()
    with pytest.raises(ValueError, match=r"changed config: optim\.lr \(0\.1 -> 0\.5\)"):
        Session.resume(tmp_path / "run", CONFIG, ["optim.lr=0.5"])
    assert Session.resume(tmp_path / "run", CONFIG, ["train.epochs=9"]).config["train"]["epochs"]
    other = apply_overrides(CONFIG, ["seed=1"])
    with pytest.raises(ValueError, match=r"seed \(0 -> 1\)"):
        Session.resume(tmp_path / "run", other)
    (tmp_path / "run" / "checkpoints" / "last.npz").unlink()
    with pytest.raises(ValueError, match="not a run folder"):
        Session.resume(tmp_path / "run")


def test_resume_refuses_changed_training_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 2)), np.arange(30) % 3
    np.savez(tmp_path / "data.npz", X=X, y=y)
    data = {"name": "file", "path": str(tmp_path / "data.npz"), "val_fraction": 0.2}
    config = resolve_config({**RAW, "data": data})
    Session.start(config, tmp_path / "run", quiet=True).open()
    X[:, 0] = X[::-1, 0]  # one feature of the samples reordered
    np.savez(tmp_path / "data.npz", X=X, y=y)
    with pytest.raises(ValueError) as caught:
        Session.resume(tmp_path / "run")
    assert str(caught.value) == (
        f"cannot resume {tmp_path / 'run'}: the training data differs from the checkpoint's "
        "(the data file or data options changed)"
    )


def test_a_run_folder_is_locked_while_one_session_writes_it(tmp_path: Path) -> None:
    session = Session.start(CONFIG, tmp_path / "run", quiet=True)
    folder = session.open().folder
    other = Run(folder)
    # flock is per open file: a second holder in this very process is refused like another one
    with pytest.raises(RunInUseError, match="another process is training in this run folder"):
        other.lock()
    with pytest.raises(RunInUseError):
        Session.resume(folder, quiet=True)
    session.fit()  # fit releases the lock when it returns
    assert other.lock() is other and other.lock() is other  # holding it twice is fine
    with pytest.raises(RunInUseError):
        Session.resume(folder, quiet=True)
    other.unlock()
    steps = _last(folder)["progress"]["global_step"]
    assert steps == session.trainer.progress.global_step > 0  # the first session's last step
    resumed = Session.resume(folder, quiet=True)
    resumed.fit()  # a finished run resumes to the same place
    assert _last(folder)["progress"]["global_step"] == steps
