"""scripts/gradcheck.py: the registry table, a layer from the user's file, exit statuses."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gategraph.layers import LAYERS
from gategraph.losses import LOSSES

ROOT = Path(__file__).resolve().parents[2]

USER_FILE = '''
import numpy as np

from gategraph.layers.base import Layer
from gategraph.core.params import Param


class Cube(Layer):
    """out = x³."""

    _x = None

    def forward(self, x):
        self._x = x
        return x**3

    def backward(self, dout):
        return 3 * self._x**2 * dout


class BrokenCube(Cube):
    def backward(self, dout):
        return 2 * self._x**2 * dout  # should be 3 x²


class Bias(Layer):
    """out = x + b, b: (M,), built with rng and dtype."""

    def __init__(self, out_dim, *, rng, dtype=np.float32):
        super().__init__()
        self.params = {"b": Param(rng.standard_normal(out_dim).astype(dtype))}

    def forward(self, x):
        return x + self.params["b"].value

    def backward(self, dout):
        self.params["b"].grad[...] = dout.sum(axis=0)
        return dout
'''


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/gradcheck.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user") / "my_layers.py"
    path.write_text(USER_FILE)
    return path


def test_the_table_lists_every_registered_layer_and_loss_and_passes() -> None:
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["kind", "name", "mode", "max", "rel", "err", "kinks", "verdict"]
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in lines[1:] if line.strip()}
    expected = [("layer", n) for n in LAYERS.names()] + [("loss", n) for n in LOSSES.names()]
    assert all(rows.get(key) == "ok" for key in expected), done.stdout
    assert f"{len(expected)} checked, 0 failed" in done.stdout


def test_a_good_layer_from_a_user_file_passes(user_file: Path) -> None:
    done = run(f"{user_file}:Cube", "--input-shape", "4,10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("gradcheck of Cube: ok (mode full;")
    assert ["input", "0", "(x)", "(4,", "10)", "40"] in [
        r.split()[:6] for r in done.stdout.splitlines()
    ]


def test_rng_dtype_and_arguments_reach_the_constructor(user_file: Path) -> None:
    done = run(f"{user_file}:Bias", "--input-shape", "3,5", "--arg", "out_dim=5", "--mode", "fast")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert ["param", "b", "(5,)", "3"] in [row[:4] for row in rows]  # out_dim=5, 3 directions
    assert "mode fast directions=3" in done.stdout
    assert "float32" not in done.stdout  # dtype=float64 reached it: nothing had to be cast


def test_a_broken_layer_from_a_user_file_fails_and_is_named(user_file: Path) -> None:
    done = run(f"{user_file}:BrokenCube", "--input-shape", "4,10", "--mode", "sparse", "--k", "5")
    assert done.returncode == 1
    assert done.stdout.startswith("gradcheck of BrokenCube: FAILED (mode sparse k=5;")
    assert "FAIL" in done.stdout.splitlines()[2]


def test_a_bad_path_exits_2_with_one_line_and_no_traceback() -> None:
    done = run("no/such/file.py:Cube", "--input-shape", "4,10")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "gradcheck: error: no such file: no/such/file.py\n"


def _script():
    spec = importlib.util.spec_from_file_location("gradcheck_script", ROOT / "scripts/gradcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{user}:Missing", "--input-shape", "4"), "has no Layer class 'Missing'; Layer classes"),
        (("{user}", "--input-shape", "4"), "expected FILE.py:CLASS, got"),
        (("{user}:Cube", "--input-shape", "4,x"), "--input-shape takes positive integers"),
        (("{user}:Cube", "--input-shape", "4,0"), "--input-shape takes positive integers"),
        (("{user}:Cube",), "give --input-shape (like 4,10): Cube has no example(rng)"),
        (("{user}:Bias", "--input-shape", "3,5"), "could not build Bias"),
        (("{user}:Bias", "--input-shape", "3,4", "--arg", "out_dim=5"), "rejects inputs"),
        (("{user}:Cube", "--input-shape", "4", "--arg", "5"), "--arg takes NAME=VALUE"),
        (("--mode", "slow"), "invalid choice: 'slow'"),
        (("--mode", "sparse", "--k", "0"), "needs k to be a positive integer, got 0"),
        (("--input-shape", "4,10"), "--input-shape and --arg need a FILE.py:CLASS"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    user_file: Path, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _script().main([a.format(user=user_file) for a in args])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("gradcheck: error: ") and err.count("\n") == 1
    assert message in err
