"""train.py before training starts: Ctrl-C at any moment is one line and nothing written; a full
disk is named for what it is (a resumed run's folder exists: it cannot be "created")."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "scripts" / "train.py"
TINY = [
    "--set",
    "data.n_per_class=20",
    "--set",
    "train.epochs=2",
    "--set",
    "schedule=null",
    "--quiet",
]
CONFIG = ["--config", str(ROOT / "configs" / "mlp.yaml"), *TINY]
EARLY = "error: interrupted (SIGINT) before training started; nothing was written\n"
# Runs train.py as `python scripts/train.py ...` does, after arming one fault: `import:NAME`
# sends SIGINT to the process as it imports NAME; `enospc` makes every os.replace fail as on a
# full disk.
WRAPPER = """
import builtins, errno, os, runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, see as_in_a_terminal
fault, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
real_import = builtins.__import__
def interrupting(name, *rest, **kwargs):
    if name == fault.removeprefix("import:"):
        builtins.__import__ = real_import
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *rest, **kwargs)
def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
if fault == "enospc":
    os.replace = full
else:
    builtins.__import__ = interrupting
sys.argv = [script, *args]
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
"""


def as_in_a_terminal() -> None:
    """SIGINT at its default in the child, as for a command typed in a terminal: a test run
    started as a background job (CI's `cmd &`, nohup) inherits SIGINT ignored, and Python then
    never turns Ctrl-C into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def with_fault(fault: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", WRAPPER, fault, str(TRAIN), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "module",
    ["numpy", "gategraph.experiments.build", "gategraph.experiments.session", "yaml"],
)
def test_ctrl_c_while_starting_is_one_line_and_writes_nothing(tmp_path: Path, module: str) -> None:
    done = with_fault(f"import:{module}", *CONFIG, cwd=tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (130, EARLY, "")
    assert files(tmp_path) == []


def in_main(pid: int) -> None:
    """Wait until process `pid` runs train.py's main: NumPy, which only main imports, is
    mapped. (Before that the interpreter starts and imports the standard library: a Ctrl-C
    there is Python's own KeyboardInterrupt, out of any script's reach.)"""
    maps = Path(f"/proc/{pid}/maps")
    while True:
        try:
            if "numpy" in maps.read_text(errors="replace"):
                return
        except OSError:  # the process is gone already
            return
        time.sleep(0.001)


def test_ctrl_c_at_random_moments_never_shows_a_traceback(tmp_path: Path) -> None:
    rng = random.Random(14)
    # 1000 epochs (~20 s): a Ctrl-C within 1.2 s of main lands before the end, never in
    # the interpreter's own shutdown after a finished run (SIGINT's default again there: -2)
    longer = [*CONFIG, "--set", "train.epochs=1000"]
    for i in range(6):
        cwd = tmp_path / str(i)
        cwd.mkdir()
        process = subprocess.Popen(
            [sys.executable, str(TRAIN), *longer], cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, preexec_fn=as_in_a_terminal,
        )  # fmt: skip
        in_main(process.pid)
        time.sleep(rng.uniform(0.0, 1.2))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=300)
        assert "Traceback" not in err, err
        if process.returncode == 0:  # finished first
            assert out.startswith("final: ")
        elif files(cwd) == []:
            assert (process.returncode, err) == (130, EARLY)
        else:  # stopped in training, with a checkpoint
            assert process.returncode == 130 and "resume with:" in err, err
            assert (cwd / "runs" / "mlp" / "checkpoints" / "last.npz").is_file()


def test_a_full_disk_on_resume_is_not_called_creating_the_folder(tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, str(TRAIN), *CONFIG, "--set", "train.epochs=1", "--out", "r"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    before = {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()}
    done = with_fault("enospc", "--resume", "r", "--set", "train.epochs=2", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "error: cannot write to the run folder r: [Errno 28] No space left on device\n"
    )
    assert {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()} == before
