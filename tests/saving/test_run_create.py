"""Creating a run folder: it appears complete (config.yaml and a first checkpoint, so it can be
resumed) or not at all, whatever kills the process or fails on the way, and of processes that
claim one name at the same instant exactly one gets it. Processes are forked from one built
session (no imports to wait for), so many rounds stay fast."""

import builtins
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from gategraph.experiments.build import build
from gategraph.experiments.config import resolve_config
from gategraph.experiments.session import Session
from gategraph.saving.checkpoint import load_checkpoint

CONFIG = resolve_config({
    "seed": 0,
    "data": {"name": "spiral", "n_per_class": 10, "val_fraction": 0.2},
    "model": {
        "layers": [{"type": "affine", "out_dim": 3}],
        "loss": {"type": "softmax_cross_entropy"},
    },
    "optim": {"type": "sgd", "lr": 0.1},
    "train": {"epochs": 1, "batch_size": 8},
})  # fmt: skip
WRITES = ("mkdir", "rename", "replace", "link", "fsync", "unlink", "rmdir")


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.start(CONFIG, Path("unused"), quiet=True, experiment=build(CONFIG))


@contextmanager
def hooked_writes(at: int, act: Callable[[], None]) -> Iterator[None]:
    """Call `act()` at the `at`-th write (a mkdir, rename, replace, link, fsync, unlink, rmdir,
    or an open for writing) instead of doing it. For a forked child only: never restored."""
    count = [0]

    def counted(write: Callable) -> Callable:
        def hooked(*args: object, **kwargs: object) -> object:
            count[0] += 1
            if count[0] == at:
                act()
            return write(*args, **kwargs)

        return hooked

    for name in WRITES:
        setattr(os, name, counted(getattr(os, name)))
    real_open = open

    def open_for(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if set(mode) & set("wax+"):
            return counted(real_open)(file, mode, *args, **kwargs)
        return real_open(file, mode, *args, **kwargs)

    builtins.open = open_for
    yield


def in_child(work: Callable[[], int]) -> int:
    """Run `work` in a forked process; its exit code, or -signal if a signal ended it."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            code = work()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def open_with(session: Session, base: Path, at: int, act: Callable[[], None]) -> int:
    """Exit code of a child that opens `session` in `base` with `act` at its `at`-th write:
    0 opened, 1 an OSError, -9 killed."""

    def work() -> int:
        session.base = base
        with hooked_writes(at, act):
            try:
                session.open()
            except OSError:
                return 1
        return 0

    return in_child(work)


def assert_resumable(folder: Path) -> None:
    """What --resume needs: the config, and a last.npz for this config at step 0."""
    checkpoint = load_checkpoint(folder / "checkpoints" / "last.npz")
    assert checkpoint.config == CONFIG and checkpoint.state["progress"]["global_step"] == 0
    resumed = Session.resume(folder, quiet=True)
    assert resumed.trainer.progress.epoch == 0
    resumed._resumed.unlock()


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def disk_full() -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("act", [kill, disk_full], ids=["SIGKILL", "disk full"])
def test_a_run_folder_is_complete_or_absent_at_every_write(
    session: Session, tmp_path: Path, act: Callable[[], None]
) -> None:
    at, outcomes = 0, []
    while True:
        at += 1
        runs = tmp_path / f"at{at}"
        code = open_with(session, runs / "r", at, act)
        outcomes.append(code)
        if code == 0:  # no write left to spoil: the run opened
            break
        assert code == (-signal.SIGKILL if act is kill else 1), (at, code)
        left = visible(runs) if runs.exists() else []
        if left == ["r"]:  # killed after the rename: complete
            assert_resumable(runs / "r")
        else:  # killed before: nothing visible, and a new run takes the name and cleans up
            assert [name for name in left if not name.startswith(".")] == [], (at, left)
            assert open_with(session, runs / "r", 0, kill) == 0
            assert visible(runs) == ["r"], (at, visible(runs))
            assert_resumable(runs / "r")
    assert at >= 8, outcomes  # mkdirs, the lock, config.yaml and last.npz: each was spoiled


def test_processes_claiming_one_name_at_once_get_one_folder_each(
    session: Session, tmp_path: Path
) -> None:
    rounds, processes = 12, 4
    for i in range(rounds):
        base = tmp_path / f"round{i}" / "r"
        go_read, go_write = os.pipe()

        def work(base: Path = base, go: int = go_read) -> int:
            os.read(go, 1)  # the barrier: every process waits for its byte
            session.base = base
            session.open()
            return 0

        children = []
        for _ in range(processes):
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    code = work()
                finally:
                    os._exit(code)
            children.append(pid)
        os.write(go_write, b"x" * processes)  # all start at the same instant
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        os.close(go_read)
        os.close(go_write)
        assert codes == [0] * processes, (i, codes)
        names = ["r", *(f"r-{k}" for k in range(2, processes + 1))]
        assert visible(base.parent) == sorted(names), i
        for name in names:
            assert_resumable(base.parent / name)


def test_an_empty_folder_is_free_and_a_file_is_not(session: Session, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r-2").write_text("a file")
    assert open_with(session, tmp_path / "r", 0, kill) == 0
    assert open_with(session, tmp_path / "r", 0, kill) == 0
    assert visible(tmp_path) == ["r", "r-2", "r-3"]
    assert (tmp_path / "r-2").read_text() == "a file"
    assert_resumable(tmp_path / "r")
    assert_resumable(tmp_path / "r-3")
    assert np.array_equal(
        load_checkpoint(tmp_path / "r" / "checkpoints" / "last.npz").state["params"]["affine0.W"],
        load_checkpoint(tmp_path / "r-3" / "checkpoints" / "last.npz").state["params"]["affine0.W"],
    )


# Worker for the CLI race: train.py's main, once per round, each round started by a file.
WORKER = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import train
rounds, config = int(sys.argv[2]), sys.argv[3]
for i in range(rounds):
    Path(f"ready-{i}-{os.getpid()}").touch()
    while not Path(f"go-{i}").exists():
        time.sleep(0.001)
    code = train.main(["--config", config, "--out", f"round{i}/r", "--quiet",
                       "--set", "data.n_per_class=10", "--set", "train.epochs=1",
                       "--set", "schedule=null"])
    Path(f"exit-{i}-{os.getpid()}").write_text(str(code))
"""


def test_train_processes_started_at_one_instant_on_one_out_each_get_a_run(
    tmp_path: Path,
) -> None:
    root = Path(__file__).resolve().parents[2]
    rounds, processes = 4, 3
    command = [sys.executable, "-c", WORKER, str(root / "scripts"), str(rounds),
               str(root / "configs" / "mlp.yaml")]  # fmt: skip
    workers = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(processes)
    ]
    for i in range(rounds):
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob(f"ready-{i}-*"))) < processes:
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
            time.sleep(0.01)
        (tmp_path / f"go-{i}").touch()
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0] * processes, outputs
    for i in range(rounds):
        assert [p.read_text() for p in tmp_path.glob(f"exit-{i}-*")] == ["0"] * processes
        names = sorted(["r", *(f"r-{k}" for k in range(2, processes + 1))])
        assert visible(tmp_path / f"round{i}") == names
        for name in names:
            assert (tmp_path / f"round{i}" / name / "summary.json").is_file()


def test_a_name_as_long_as_a_file_system_allows_still_gets_its_run(
    session: Session, tmp_path: Path
) -> None:
    name = "r" * 255  # the longest name ext4 takes; the temporary name must not be longer
    assert open_with(session, tmp_path / name, 0, kill) == 0
    assert visible(tmp_path) == [name]
    assert_resumable(tmp_path / name)
