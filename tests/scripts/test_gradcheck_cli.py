"""scripts/gradcheck.py: the registry table, a layer from the user's file, exit statuses."""

import importlib.util
import subprocess
import sys
from collections.abc import Callable
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


class Checked(Cube):
    def __init__(self, size, scale=1.0):
        super().__init__()
        if size < 1:
            raise ValueError(f"Checked needs size >= 1, got {size}")


class NoSuper(Cube):
    def __init__(self):
        self.power = 3  # super().__init__() forgotten


class ExitingForward(Cube):
    def forward(self, x):
        raise SystemExit(0)


class LaterExit(Cube):
    calls = 0

    def forward(self, x):
        LaterExit.calls += 1
        if LaterExit.calls > 3:  # the probe and the first steps pass: the check is under way
            raise SystemExit(0)
        return super().forward(x)


class FirstColumnWrong(Cube):
    def backward(self, dout):
        dx = 3 * self._x**2 * dout
        dx[:, 0] *= 1.01
        return dx
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
    assert "FAIL (5 of 5)" in done.stdout.splitlines()[2]  # 2 x² for 3 x²: every one is off


def test_the_report_counts_the_failing_coordinates(user_file: Path) -> None:
    done = run(f"{user_file}:FirstColumnWrong", "--input-shape", "4,10")
    assert done.returncode == 1
    row = done.stdout.splitlines()[2].split()
    assert row[:6] == ["input", "0", "(x)", "(4,", "10)", "40"]
    assert row[-4:] == ["FAIL", "(4", "of", "40)"]  # column 0 of 4 rows; the worst alone hid it


def test_a_registered_layer_is_checked_by_name() -> None:
    done = run("relu")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gradcheck of ReLU: ok (mode full;")
    built = run("affine", "--input-shape", "4,10", "--arg", "in_dim=10", "--arg", "out_dim=3")
    assert built.returncode == 0, built.stderr
    rows = [line.split()[:4] for line in built.stdout.splitlines()]
    assert ["param", "W", "(10,", "3)"] in rows and ["param", "b", "(3,)", "3"] in rows


def test_the_checked_file_imports_its_neighbours(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "powers.py").write_text("POWER = 3\n")
    (mine / "cube.py").write_text(
        USER_FILE.replace("import numpy as np", "from powers import POWER\nimport numpy as np", 1)
    )
    done = run(f"{mine / 'cube.py'}:Cube", "--input-shape", "4,10")  # run from the repository
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gradcheck of Cube: ok")


@pytest.mark.parametrize(
    ("source", "status", "message"),
    [
        (
            "import sys\nsys.exit(0)\n",
            2,
            "error: importing {path} called sys.exit(0): nothing was checked\n",
        ),
        (
            "from my_layers import LaterExit\n",
            1,
            "error: LaterExit called sys.exit(0) during the check: nothing was checked\n",
        ),
    ],
    ids=["sys.exit at import", "SystemExit during the check"],
)
def test_a_check_that_did_not_run_never_passes(
    user_file: Path, tmp_path: Path, source: str, status: int, message: str
) -> None:
    path = tmp_path / "exits.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(user_file.parent)!r})\n{source}")
    done = run(f"{path}:LaterExit", "--input-shape", "3,4")
    assert (done.returncode, done.stdout) == (status, "")
    assert done.stderr == message.format(path=path)


def test_a_bad_path_exits_2_with_one_line_and_no_traceback() -> None:
    done = run("no/such/file.py:Cube", "--input-shape", "4,10")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: no such file: no/such/file.py\n"


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
        (
            ("{user}:Bias", "--input-shape", "3,5"),
            "error: Bias has no default for out_dim: give --arg out_dim=VALUE",
        ),
        (
            ("{user}:Bias", "--input-shape", "3,4", "--arg", "out_dim=5"),
            "error: Bias.forward on inputs of shape (3, 4) raised ValueError: operands could not",
        ),
        (("{user}:Cube", "--input-shape", "4", "--arg", "5"), "--arg takes NAME=VALUE"),
        (
            ("{user}:Bias", "--input-shape", "3,5", "--arg", "outdim=5"),
            "error: --arg outdim: Bias takes no 'outdim'; it takes: out_dim",
        ),
        (
            ("{user}:Bias", "--input-shape", "3,5", "--arg", "out_dim=5", "--arg", "n=2"),
            "error: --arg n: Bias takes no 'n'; it takes: out_dim",
        ),
        (
            ("{user}:Checked", "--input-shape", "3,5", "--arg", "size=-2", "--arg", "scale=2"),
            "error: --arg size=-2: Checked.__init__ raised ValueError: Checked needs size >= 1",
        ),
        (("--mode", "slow"), "error: argument --mode: invalid choice: 'slow'"),
        (("--mode", "sparse", "--k", "0"), "error: argument --k: must be a positive integer"),
        (("--seed", "-1"), "error: argument --seed: must be an integer >= 0, got '-1'"),
        (("--input-shape", "4,10"), "error: --input-shape and --arg need a layer to check"),
        (("relux",), "error: unknown layer 'relux' (did you mean 'relu'?); valid: add, affine"),
        (("softmax_cross_entropy", "--input-shape", "4,3"), "a loss is checked on its example"),
        (
            ("{user}:Cube", "--input-shape", "100000,100000,1000"),
            "error: --input-shape 100000,100000,1000: cannot allocate 7.45e+04 GiB of float64",
        ),
        (
            ("{user}:Cube", "--input-shape", "10000000000,10000000000"),
            "error: --input-shape 10000000000,10000000000: cannot allocate 7.45e+11 GiB",
        ),
        (
            ("{user}:NoSuper", "--input-shape", "3,4"),
            "error: NoSuper.__init__ does not call super().__init__(), so the layer has no "
            "params, training",
        ),
        (
            ("{user}:ExitingForward", "--input-shape", "3,4"),
            "error: ExitingForward.forward on inputs of shape (3, 4) called sys.exit(0): "
            "nothing was checked",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    user_file: Path, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = status_of(_script().main, [a.format(user=user_file) for a in args])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert message in err, err


def status_of(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """main's exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code
