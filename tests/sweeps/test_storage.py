"""Storage: one study in a journal file or a database, joined only by the same sweep; a bad
database URL is one line naming it (its password hidden), and nothing is written."""

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from gategraph.experiments.config import ConfigError  # noqa: E402
from gategraph.sweeps.spec import load_sweep  # noqa: E402
from gategraph.sweeps.storage import JOURNAL, database_url, load_study  # noqa: E402
from gategraph.sweeps.worker import Worker  # noqa: E402

POSTGRES = os.environ.get("GATEGRAPH_TEST_POSTGRES_URL")
COMPLETE = optuna.trial.TrialState.COMPLETE
SCRIPT = Path(__file__).parents[2] / "scripts" / "sweep.py"
EXPECTED = "postgresql://user@host/db or sqlite:///sweep.db"


@pytest.mark.skipif(not POSTGRES, reason="GATEGRAPH_TEST_POSTGRES_URL is unset")
def test_two_machines_share_one_study_through_postgresql(
    write_sweep: Callable, tmp_path: Path, study_name: str, one_thread: dict
) -> None:
    name = study_name
    path = write_sweep(
        f"base: base.yaml\nname: {name}\ntrials: 6\nsampler: {{type: random, seed: 0}}\n"
        "pruner: none\nset: {train.epochs: 60}\nspace:\n  optim.lr: {log_uniform: [1e-2, 0.3]}\n"
    )
    machines = [tmp_path / "a", tmp_path / "b"]  # the same command, each with its own disk
    command = [sys.executable, str(SCRIPT), "--config", str(path), "--storage", str(POSTGRES)]
    runs = [
        subprocess.Popen([*command, "--workers", "1", "--out", str(folder)], env=one_thread)
        for folder in machines
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    trials = load_study(name, str(POSTGRES)).trials
    assert [t.state for t in trials] == [COMPLETE] * 6
    folders = [{p.name for p in folder.glob("trial-*")} for folder in machines]
    assert folders[0].isdisjoint(folders[1])
    assert folders[0] | folders[1] == {t.user_attrs["run"] for t in trials}
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both took trials


def test_a_finished_sweep_run_again_does_nothing_and_a_changed_one_is_refused(
    write_sweep: Callable, tmp_path: Path
) -> None:
    text = (
        "base: base.yaml\ntrials: 2\npruner: none\nspace:\n  optim.lr: {log_uniform: [1e-2, 0.3]}\n"
    )
    sweep, out = load_sweep(write_sweep(text)), tmp_path / "out"
    out.mkdir()
    assert Worker(sweep, str(out / JOURNAL), out).run() == 2
    assert Worker(sweep, str(out / JOURNAL), out).run() == 0
    changed = load_sweep(write_sweep(text.replace("0.3]", "0.5]")))
    with pytest.raises(ConfigError) as caught:
        Worker(changed, str(out / JOURNAL), out).run()
    assert str(caught.value) == (
        f"{changed.path}: study 'sweep' was started by a different sweep config: "
        "space.optim.lr.log_uniform[1] (0.3 -> 0.5); give this sweep another name (or --out "
        "folder) to start a new study"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("foo", f"expected a URL like {EXPECTED}"),
        ("sqlit:///x.db", f"no database kind 'sqlit'; expected a URL like {EXPECTED}"),
        ("postgresql://me:secret@nohost:1/x", "failed to resolve host 'nohost'"),
        ("sqlite:////no/such/folder/x.db", "unable to open database file"),
    ],
)
def test_a_bad_storage_url_is_one_line_and_writes_nothing(
    write_sweep: Callable, run_cli: Callable, tmp_path: Path, url: str, reason: str
) -> None:
    path = write_sweep("base: base.yaml\ntrials: 2\nspace:\n  optim.lr: {choice: [0.1, 0.2]}\n")
    before = sorted(tmp_path.rglob("*"))
    done = run_cli("--config", path, "--storage", url, "--out", tmp_path / "out", "--workers", "1")
    shown = url.replace(":secret@", "@")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"error: cannot use {shown}: {reason}")
    assert done.stderr.count("\n") == 1 and "secret" not in done.stderr
    assert sorted(tmp_path.rglob("*")) == before  # no sweep folder, no journal, no database


def test_database_url_accepts_what_sqlalchemy_can_open(tmp_path: Path) -> None:
    assert database_url(f"sqlite:///{tmp_path}/s.db") == f"sqlite:///{tmp_path}/s.db"
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("MySQLdb is installed here: the missing-driver case needs it absent")
    with pytest.raises(ValueError) as caught:
        database_url("mysql://me:pw@host/db")
    assert str(caught.value) == (
        "cannot use mysql://me@host/db: its driver is not installed (No module named 'MySQLdb')"
    )
