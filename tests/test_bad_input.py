"""The catalogue of bad input: every case runs the real CLI and gets exit code 2, one line on
stderr naming the file, key or sample and what was wrong, no traceback, and no file changed."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gategraph.saving.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
MLP = (ROOT / "configs" / "mlp.yaml").read_text()
FILE_CONFIG = """seed: 0
data: {name: file, path: data.csv, val_fraction: 0.25}
model:
  layers: [{type: affine, out_dim: 8}, {type: relu}, {type: affine, out_dim: 3}]
  loss: {type: softmax_cross_entropy}
optim: {type: sgd, lr: 0.1}
train: {epochs: 1, batch_size: 4}
"""


def run(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / script), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every path below `folder` with its mode, mtime and content."""
    state = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()  # a link itself, not what it points to
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        state[str(path.relative_to(folder))] = (info.st_mode, info.st_mtime_ns, content)
    return state


def assert_refused(done: subprocess.CompletedProcess, *facts: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    for fact in facts:
        assert fact in done.stderr, (fact, done.stderr)


def csv_text(X: np.ndarray, y: list, header: str = "x1,x2,label") -> str:
    rows = [",".join([*map(str, x), str(label)]) for x, label in zip(X.tolist(), y, strict=True)]
    return header + "\n" + "\n".join(rows) + "\n"


def npz_bytes(X: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y)
    return buffer.getvalue()


GOOD_X = np.round(np.random.default_rng(0).standard_normal((12, 2)), 3)
GOOD_Y = [i % 3 for i in range(12)]


def with_cell(row: int, column: int, value: str) -> str:
    X = GOOD_X.astype(object)
    X[row, column] = value
    return csv_text(X, GOOD_Y)


# (id, files to write, arguments after train.py, facts the message must state)
TRAIN_CASES = [
    (
        "malformed YAML",
        {"c.yaml": "seed: 0\ndata: {name: spiral\nmodel: 1\n"},
        ["--config", "c.yaml"],
        ["c.yaml:3:6: invalid YAML: expected ',' or '}'"],
    ),
    (
        "python tag in the file",
        {"c.yaml": 'seed: !!python/object/apply:os.system ["touch pwned"]\n'},
        ["--config", "c.yaml"],
        ["c.yaml:1:7: tag '!!python/object/apply:os.system' is not allowed"],
    ),
    (
        "python tag in --set",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--set", 'seed=!!python/object/apply:os.system ["touch pwned"]'],
        ["--set seed=", "tag '!!python/object/apply:os.system' is not allowed"],
    ),
    (
        "unknown key",
        {"c.yaml": MLP.replace("momentum: 0.9", "momentm: 0.9")},
        ["--config", "c.yaml"],
        ["c.yaml:", "optim.momentm: unknown key; did you mean 'momentum'?"],
    ),
    (
        "unknown type",
        {"c.yaml": MLP.replace("{type: affine, out_dim: 100}", "{type: afine, out_dim: 100}")},
        ["--config", "c.yaml"],
        ["model.layers[0].type: unknown layer 'afine' (did you mean 'affine'?)"],
    ),
    (
        "wrong type",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--set", "train.epochs=ten"],
        ["--set train.epochs=ten: train.epochs: must be a positive integer, got 'ten'"],
    ),
    (
        "out of range",
        {"c.yaml": MLP.replace("out_dim: 3,", "out_dim: -5,")},
        ["--config", "c.yaml"],
        ["c.yaml:20: model.layers[2].out_dim: must be a positive integer, got -5"],
    ),
    (
        "malformed --set",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--set", "optim.lr"],
        ["--set optim.lr: expected KEY=VALUE"],
    ),
    (
        "labels out of range",
        {"c.yaml": FILE_CONFIG, "data.csv": csv_text(GOOD_X, GOOD_Y[:7] + [5] + GOOD_Y[8:])},
        ["--config", "c.yaml"],
        ["c.yaml:4: model.layers[2]", "6 classes", "class ids in [0, 3)"],
    ),
    (
        "labels not integers",
        {"c.yaml": FILE_CONFIG, "data.csv": csv_text(GOOD_X, GOOD_Y[:4] + [1.5] + GOOD_Y[5:])},
        ["--config", "c.yaml"],
        ["data.csv: line 6, column 'label': labels must be integers >= 0, got 1.5"],
    ),
    (
        "feature count does not match in_dim",
        {
            "c.yaml": FILE_CONFIG.replace("out_dim: 8}", "out_dim: 8, in_dim: 5}"),
            "data.csv": csv_text(GOOD_X, GOOD_Y),
        },
        ["--config", "c.yaml"],
        ["model.layers[0].in_dim: is 5, but the samples reaching this layer have shape (2,)"],
    ),  # fmt: skip
    (
        "empty dataset",
        {"c.yaml": FILE_CONFIG, "data.csv": "x1,x2,label\n"},
        ["--config", "c.yaml"],
        ["data.csv: no data rows after the header"],
    ),
    (
        "NaN in the data",
        {"c.yaml": FILE_CONFIG, "data.csv": with_cell(3, 1, "nan")},
        ["--config", "c.yaml"],
        ["data.csv: line 5, column 'x2': features must be finite, got nan"],
    ),
    (
        "Inf in the data",
        {"c.yaml": FILE_CONFIG, "data.csv": with_cell(0, 0, "-inf")},
        ["--config", "c.yaml"],
        ["data.csv: line 2, column 'x1': features must be finite, got -inf"],
    ),
    (
        "missing config file",
        {},
        ["--config", "nope.yaml"],
        ["nope.yaml: cannot read the config: No such file or directory"],
    ),
    (
        "missing data file",
        {"c.yaml": FILE_CONFIG},
        ["--config", "c.yaml"],
        ["data.csv: no such file"],
    ),
    (
        "unreadable config (a folder)",
        {"folder.yaml/inside": ""},
        ["--config", "folder.yaml"],
        ["folder.yaml: cannot read the config: Is a directory"],
    ),
    (
        "unreadable config (not text)",
        {"c.yaml": b"\xff\xfe\x00binary"},
        ["--config", "c.yaml"],
        ["c.yaml: cannot read the config: 'utf-8' codec can't decode byte 0xff"],
    ),
    (
        "unreadable data file",
        {"c.yaml": FILE_CONFIG.replace("data.csv", "data.npz"), "data.npz": b"PK\x03\x04junk"},
        ["--config", "c.yaml"],
        ["data.npz: not a readable .npz archive"],
    ),
    (
        "no config and no run",
        {},
        [],
        ["give --config FILE to start a run, or --resume RUN_DIR"],
    ),
    (
        "imports: a missing file",
        {"c.yaml": "imports: [mine/nope.py]\n" + MLP},
        ["--config", "c.yaml"],
        ["c.yaml:1: imports[0]: no such file: ", "/mine/nope.py (a file in imports is relative"],
    ),
    (
        "imports: an error in the user's file",
        {"c.yaml": "imports: [mine/bad.py]\n" + MLP, "mine/bad.py": "import numpy\nx = np.e\n"},
        ["--config", "c.yaml"],
        [
            "c.yaml:1: imports[0]: cannot import ",
            "bad.py: NameError: name 'np' is not defined (",
            "/mine/bad.py:2)",
        ],
    ),
    (
        "label column is an id or a timestamp",
        {
            "c.yaml": FILE_CONFIG,
            "data.csv": csv_text(GOOD_X, [1_700_000_000 + i for i in range(12)]),
        },
        ["--config", "c.yaml"],
        [
            "data.csv: line 2, column 'label': label 1700000000 is not a class id",
            "at most 10000 classes",
            "look like an id or a timestamp",
            "`label:`",
        ],
    ),  # fmt: skip
    (
        "label beyond 2**63 (would wrap negative)",
        {"c.yaml": FILE_CONFIG, "data.csv": csv_text(GOOD_X, GOOD_Y[:3] + [1e20] + GOOD_Y[4:])},
        ["--config", "c.yaml"],
        ["data.csv: line 5, column 'label': label 100000000000000000000 is not a class id"],
    ),
    (
        "uint64 labels beyond 2**63 in a .npz",
        {
            "c.yaml": FILE_CONFIG.replace("data.csv", "data.npz"),
            "data.npz": npz_bytes(GOOD_X, np.array([*GOOD_Y[:11], 2**63 + 5], np.uint64)),
        },
        ["--config", "c.yaml"],
        ["data.npz: y[11]: label 9223372036854775813 is not a class id"],
    ),  # fmt: skip
    (
        "features overflow when standardized",
        {"c.yaml": FILE_CONFIG, "data.csv": csv_text(GOOD_X * [1e300, 1], GOOD_Y)},
        ["--config", "c.yaml"],
        ["c.yaml:2: data:", "feature 0 overflows", "rescale"],
    ),
    (
        "features overflow float32",
        {
            "c.yaml": FILE_CONFIG.replace("0.25}", "0.25, standardize: false}"),
            "data.csv": csv_text(GOOD_X * [1, 1e300], GOOD_Y),
        },
        ["--config", "c.yaml"],
        ["c.yaml:2: data:", "feature 1", "beyond float32", "dtype: float64"],
    ),  # fmt: skip
    (
        "YAML nested 400 levels in the file",
        {"c.yaml": MLP.replace("seed: 0", "seed: " + "[" * 400 + "]" * 400)},
        ["--config", "c.yaml"],
        ["c.yaml:", "nested deeper than 50 levels"],
    ),
    (
        "YAML nested 400 levels in --set",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--set", "seed=" + "{a: " * 400 + "1" + "}" * 400],
        ["--set seed={a: {a:", "nested deeper than 50 levels"],
    ),
    (
        "a large list without aliases",
        {"c.yaml": MLP.replace("seed: 0", "seed: [" + "0, " * 100_001 + "0]")},
        ["--config", "c.yaml"],
        ["c.yaml:", "more than 100000 entries", "a config holds settings"],
    ),
    (
        "--out is the working folder",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--out", "."],
        ["--out .: a run folder needs a name of its own"],
    ),
    (
        "--out is the root",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--out", "/"],
        ["--out /: a run folder needs a name of its own"],
    ),
    (
        "--out is the parent folder",
        {"c.yaml": MLP},
        ["--config", "c.yaml", "--out", "sub/.."],
        ["--out sub/..: a run folder needs a name of its own"],
    ),
    (
        "resume a folder that is not a run",
        {"empty/readme.txt": "hello"},
        ["--resume", "empty"],
        ["empty: not a run folder (no checkpoints/last.npz)"],
    ),
]


@pytest.mark.parametrize(
    ("files", "args", "facts"), [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES]
)
def test_train_refuses(tmp_path: Path, files: dict, args: list, facts: list) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(tmp_path)
    done = run("train.py", *args, "--quiet", cwd=tmp_path)
    assert_refused(done, *facts)
    assert snapshot(tmp_path) == before  # no run folder, no runs/, nothing touched
    assert not (tmp_path / "pwned").exists()


def test_a_config_that_is_a_fifo_is_named_not_waited_for(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "c.yaml")
    before = snapshot(tmp_path)
    done = run("train.py", "--config", "c.yaml", cwd=tmp_path)
    assert_refused(done, "c.yaml: cannot read the config: not a regular file (a FIFO")
    assert snapshot(tmp_path) == before


# ---- gradcheck.py ---------------------------------------------------------------------------

LAYER_FILE = """from gategraph.layers import Layer


class Cube(Layer):
    def forward(self, x):
        self._x = x
        return x**3

    def backward(self, dout):
        return 3 * self._x**2 * dout
"""

# (id, files to write, arguments after gradcheck.py, facts the message must state)
GRADCHECK_CASES = [
    (
        "negative seed",
        {},
        ["--seed", "-1"],
        ["argument --seed: must be an integer >= 0, got '-1'"],
    ),
    (
        "input too large to allocate",
        {"cube.py": LAYER_FILE},
        ["cube.py:Cube", "--input-shape", "100000,100000,1000"],
        ["--input-shape 100000,100000,1000: cannot allocate 7.45e+04 GiB of float64 inputs"],
    ),
    (
        "input larger than any array",
        {"cube.py": LAYER_FILE},
        ["cube.py:Cube", "--input-shape", "10000000000,10000000000"],
        ["--input-shape 10000000000,10000000000: cannot allocate 7.45e+11 GiB"],
    ),
    (
        "the checked file calls sys.exit(0)",
        {"cube.py": LAYER_FILE + "\nimport sys\n\nsys.exit(0)\n"},
        ["cube.py:Cube", "--input-shape", "3,4"],
        ["importing cube.py called sys.exit(0): nothing was checked"],
    ),
    (
        "forward raises SystemExit",
        {"cube.py": LAYER_FILE.replace("self._x = x", "raise SystemExit(0)")},
        ["cube.py:Cube", "--input-shape", "3,4"],
        ["Cube.forward on inputs of shape (3, 4) called sys.exit(0): nothing was checked"],
    ),
    (
        "forgotten super().__init__()",
        {
            "cube.py": LAYER_FILE.replace(
                "Layer):", "Layer):\n    def __init__(self):\n        pass\n"
            )
        },
        ["cube.py:Cube", "--input-shape", "3,4"],
        ["Cube.__init__ does not call super().__init__()", "first line of Cube.__init__"],
    ),
    (
        "an argument the layer does not take",
        {},
        ["affine", "--input-shape", "4,10", "--arg", "in_dim=10", "--arg", "outdim=3"],
        ["--arg outdim: Affine takes no 'outdim'; it takes: in_dim, out_dim"],
    ),
]


@pytest.mark.parametrize(
    ("files", "args", "facts"),
    [c[1:] for c in GRADCHECK_CASES],
    ids=[c[0] for c in GRADCHECK_CASES],
)
def test_gradcheck_refuses(tmp_path: Path, files: dict, args: list, facts: list) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    before = snapshot(tmp_path)
    assert_refused(run("gradcheck.py", *args, cwd=tmp_path), *facts)
    assert {k: v for k, v in snapshot(tmp_path).items() if "__pycache__" not in k} == before


# ---- checkpoints ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished one-epoch runs whose models differ: `small` (hidden 8), `big` (hidden 16)."""
    cwd = tmp_path_factory.mktemp("runs")
    (cwd / "data.csv").write_text(csv_text(GOOD_X, GOOD_Y))
    (cwd / "small.yaml").write_text(FILE_CONFIG)
    (cwd / "big.yaml").write_text(FILE_CONFIG.replace("out_dim: 8}", "out_dim: 16}"))
    stopping = (
        "train: {epochs: 30, batch_size: 4, early_stopping: {monitor: val_loss, patience: 1}}"
    )
    (cwd / "stopped.yaml").write_text(
        FILE_CONFIG.replace("lr: 0.1", "lr: 0.0").replace(
            "train: {epochs: 1, batch_size: 4}", stopping
        )
    )
    for name in ("small", "big", "stopped"):
        assert run("train.py", "--config", f"{name}.yaml", "--out", name, cwd=cwd).returncode == 0
    return cwd


@pytest.fixture
def work(runs: Path, tmp_path: Path) -> Path:
    """A private copy of the runs, to spoil."""
    shutil.copytree(runs, tmp_path / "w")
    return tmp_path / "w"


def spoil_and_check(work: Path, script: str, args: list[str], facts: list[str]) -> None:
    before = snapshot(work)
    assert_refused(run(script, *args, cwd=work), *facts)
    assert snapshot(work) == before


def test_resume_with_a_checkpoint_from_another_model(work: Path) -> None:
    shutil.copy(work / "big" / "checkpoints" / "last.npz", work / "small" / "checkpoints")
    facts = [
        "cannot resume small with a changed config: model.layers[0].out_dim (16 -> 8)",
        "only train.checkpoint_every_epochs",
    ]
    spoil_and_check(work, "train.py", ["--resume", "small"], facts)


def test_evaluate_with_a_checkpoint_from_another_model(work: Path) -> None:
    shutil.copy(work / "big" / "checkpoints" / "best.npz", work / "small" / "checkpoints")
    facts = ["small/checkpoints/best.npz: the checkpoint does not match this model: "
             "affine0.W is (2, 16) in the checkpoint, (2, 8) here"]  # fmt: skip
    spoil_and_check(work, "evaluate.py", ["--run", "small"], facts)


def test_a_truncated_checkpoint(work: Path) -> None:
    last = work / "small" / "checkpoints" / "last.npz"
    last.write_bytes(last.read_bytes()[:-100])
    facts = ["small/checkpoints/last.npz: truncated or corrupted"]
    spoil_and_check(work, "train.py", ["--resume", "small", "--set", "train.epochs=2"], facts)


def test_a_pickled_checkpoint_never_runs(work: Path) -> None:
    exploit = np.array([_Exploit(str(work / "pwned"))], dtype=object)
    np.savez(work / "small" / "checkpoints" / "best.npz", params=exploit)
    facts = ["best.npz: refused: it holds pickled (object) data, and loading never runs code"]
    spoil_and_check(work, "evaluate.py", ["--run", "small"], facts)
    assert not (work / "pwned").exists()


def test_evaluate_a_file_with_other_features(work: Path) -> None:
    (work / "three.csv").write_text(csv_text(np.ones((3, 3)), [0, 1, 2], "a,b,c,label"))
    facts = ["three.csv: 3 features per sample, but the model takes 2"]
    spoil_and_check(work, "evaluate.py", ["--run", "small", "--data", "three.csv"], facts)


def test_evaluate_a_file_with_nan(work: Path) -> None:
    (work / "nan.csv").write_text("x1,x2,label\n1,nan,0\n")
    facts = ["nan.csv: line 2, column 'x2': features must be finite, got nan"]
    spoil_and_check(work, "evaluate.py", ["--run", "small", "--data", "nan.csv"], facts)


# ---- a resume that trains nothing changes nothing -------------------------------------------


@pytest.mark.parametrize(
    ("folder", "changes", "said"),
    [
        ("small", [], "small has trained 1 epochs, train.epochs is 1"),
        ("stopped", ["--set", "train.epochs=1"], "stopped stopped early after epoch 2"),
        ("stopped", ["--set", "train.early_stopping.patience=60"], "a stopped run stays stopped"),
    ],
)
def test_a_resume_that_trains_nothing_changes_nothing(
    work: Path, folder: str, changes: list[str], said: str
) -> None:
    before = snapshot(work)
    done = run("train.py", "--resume", folder, *changes, "--quiet", cwd=work)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("nothing to train: ") and done.stdout.count("\n") == 1
    assert said in done.stdout and "the run folder is left as it was" in done.stdout
    assert snapshot(work) == before  # config.yaml still reproduces the run


# ---- evaluating with a config.yaml that no longer matches the checkpoint ---------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [("seed: 0", "seed: 1", "seed (0 -> 1)"),
     ("val_fraction: 0.25", "val_fraction: 0.5", "data.val_fraction (0.25 -> 0.5)")],
)  # fmt: skip
def test_evaluate_refuses_a_config_that_changes_the_split(
    work: Path, old: str, new: str, key: str
) -> None:
    config = work / "small" / "config.yaml"
    config.write_text(config.read_text().replace(old, new))
    facts = [
        f"cannot evaluate small: its config.yaml differs from the checkpoint's config in {key}"
    ]
    spoil_and_check(work, "evaluate.py", ["--run", "small"], facts)


def test_evaluate_refuses_data_that_changed_since_training(work: Path) -> None:
    (work / "data.csv").write_text(csv_text(GOOD_X[::-1], GOOD_Y))
    facts = ["cannot evaluate small: the training data differs from the checkpoint's"]
    spoil_and_check(work, "evaluate.py", ["--run", "small"], facts)


def test_evaluate_warns_about_a_config_that_keeps_the_split(work: Path) -> None:
    config = work / "small" / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.1", "lr: 0.5"))
    done = run("evaluate.py", "--run", "small", cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "warning: small: config.yaml differs from the checkpoint's config in optim.lr "
        "(0.1 -> 0.5); evaluating the checkpoint's weights\n"
    )
    assert done.stdout.startswith("run small, checkpoint best (after epoch 1), val split")


# ---- checkpoints that pass the checksum but not the checks ------------------------------------


def respoiled(work: Path, spoil: Any) -> None:
    """Rewrite small's last.npz with `spoil(state)` applied: a valid checksum, a bad state."""
    path = work / "small" / "checkpoints" / "last.npz"
    checkpoint = load_checkpoint(path)
    spoil(checkpoint.state)
    save_checkpoint(path, checkpoint.state, config=checkpoint.config)


def nested(depth: int) -> list:
    tree: list = []
    for _ in range(depth):
        tree = [tree]
    return tree


@pytest.mark.parametrize(
    ("spoil", "fact"),
    [
        (lambda s: s["progress"].update(epoch="1"),
         "progress.epoch must be an integer >= 0, got '1'"),
        (lambda s: s["progress"].update(stopped=1),
         "progress.stopped must be true or false, got 1"),
        (lambda s: s["history"].__setitem__(0, "row"), "history[0] must map names to numbers"),
        (lambda s: s["history"].append({}), "history must be a list of one row per epoch"),
        (lambda s: s["progress"].update(step=1, perm=np.array([0, 1, 2, 3, 4, 5, 6, 7, 99])),
         "progress.perm is not a permutation of the 9 training samples"),
        (lambda s: s["progress"].update(step=1, perm=np.arange(3)),
         "progress.perm must be 9 integer indices, got int64 (3,)"),
        (lambda s: s["history"][0].update(deep=nested(300)),
         "corrupted metadata (nested deeper than 64 levels)"),
        (lambda s: s["optimizer"].update(lr=10**400), "cannot restore the trainer"),
    ],
    ids=["epoch a string", "stopped an int", "history row a string", "history too long",
         "perm out of range", "perm too short", "nested 300 levels", "lr too large for a float"],
)  # fmt: skip
def test_a_checkpoint_with_a_valid_checksum_and_a_bad_state(
    work: Path, spoil: Any, fact: str
) -> None:
    respoiled(work, spoil)
    args = ["--resume", "small", "--set", "train.epochs=3"]
    spoil_and_check(work, "train.py", args, ["small/checkpoints/last.npz: ", fact])


def test_evaluate_checks_the_state_too(work: Path) -> None:
    respoiled(work, lambda s: s["progress"].update(epoch=[1]))
    facts = ["last.npz: progress.epoch must be an integer >= 0, got [1]"]
    spoil_and_check(work, "evaluate.py", ["--run", "small", "--checkpoint", "last"], facts)


@pytest.mark.parametrize(
    ("make", "fact"),
    [
        (os.mkfifo, "small/checkpoints/last.npz: a FIFO (named pipe), not a regular file"),
        (lambda p: p.symlink_to("gone.npz"),
         "small/checkpoints/last.npz: a symbolic link to gone.npz, which is missing"),
        (lambda p: p.mkdir(), "small/checkpoints/last.npz: a folder, not a file"),
    ],
    ids=["FIFO", "dangling symlink", "folder"],
)  # fmt: skip
def test_a_last_checkpoint_that_is_no_file_is_named_for_what_it_is(
    work: Path, make: Any, fact: str
) -> None:
    last = work / "small" / "checkpoints" / "last.npz"
    last.unlink()
    make(last)
    spoil_and_check(work, "train.py", ["--resume", "small"], [fact])


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.path),))
