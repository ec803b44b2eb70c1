"""scripts/reproduce.py: the table's rows, scored on the official test set, one-line errors.

The MNIST-1D arrays are replaced by random ones of the paper's shapes, so these tests need
neither the mnist1d package nor the minutes of the real reproduction."""

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import gategraph.data.mnist1d as mnist1d_module
from gategraph.experiments.build import build
from gategraph.experiments.config import load_config
from gategraph.saving.run import Run

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
HINT = 'pip install -e ".[mnist1d]"'


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_mnist1d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Random arrays of the paper's shapes in place of the real build, in an empty cache."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in mnist1d_module.SIZES.items():
        arrays[f"X_{part}"] = rng.standard_normal((n, 40))
        arrays[f"y_{part}"] = rng.integers(0, 10, n)
    monkeypatch.setenv("GATEGRAPH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist1d_module, "build_mnist1d", lambda: arrays)
    return arrays


def test_the_table_has_a_row_per_model(
    fake_mnist1d: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    reproduce = load_script("reproduce")
    out = tmp_path / "runs"
    assert reproduce.main(["mnist1d", "--set", "train.epochs=1", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| model | config | test accuracy | paper | epochs (steps) | seconds | run |"
    assert len(lines) == 5
    row = re.compile(
        r"\| (.+) \| configs/(\S+) \| (\d+\.\d)% \| (\d+)% \| 1 \((\d+)\) \| [\d.]+ \| (.+) \|"
    )
    names = []
    for line, paper in zip(lines[2:], ("32", "68", "94"), strict=True):
        model, config, acc, published, steps, run = row.fullmatch(line).groups()
        names.append(model)
        assert published == paper
        n_train, n_val, n_test = (len(y) for _, y in build(load_config(CONFIGS / config)).splits)
        assert (n_train + n_val, n_test) == (4000, 1000)  # the paper's split, val from train
        assert int(steps) == -(-n_train // 100)  # one epoch of batches of 100
        metrics = [json.loads(text) for text in (Path(run) / "metrics.jsonl").open()]
        assert [m["epoch"] for m in metrics] == [1]
        summary = json.loads((Path(run) / "summary.json").read_text())
        assert f"{summary['final']['test']['acc']:.1%}" == f"{acc}%"  # the run's own test score
    assert names == ["logistic regression", "MLP", "CNN"]
    assert sorted(p.name for p in out.iterdir()) == ["mnist1d_cnn", "mnist1d_logreg", "mnist1d_mlp"]


def test_scores_come_from_the_official_test_part(fake_mnist1d: dict, tmp_path: Path) -> None:
    reproduce = load_script("reproduce")
    experiment = build(load_config(CONFIGS / "mnist1d_cnn.yaml"))
    X, y = experiment.splits.test
    assert X.shape == (1000, 1, 40) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0, :], fake_mnist1d["X_test"].astype(np.float32))
    np.testing.assert_array_equal(y, fake_mnist1d["y_test"])
    entry = reproduce.PAPERS["mnist1d"][0]
    row = reproduce.reproduce(entry, ["train.epochs=1"], tmp_path / "runs")
    summary = json.loads((Path(row["run"]) / "summary.json").read_text())
    params = Run.open(Path(row["run"])).load(summary["final_checkpoint"]).state["params"]
    X, y = fake_mnist1d["X_test"].astype(np.float32), fake_mnist1d["y_test"]
    correct = np.argmax(X @ params["affine0.W"] + params["affine0.b"], axis=1) == y
    assert row["test"] == summary["final"]["test"]["acc"] == pytest.approx(correct.mean())


def test_table_format() -> None:
    reproduce = load_script("reproduce")
    entry = reproduce.Entry("CNN", "mnist1d_cnn.yaml", 0.94)
    row = {
        "entry": entry,
        "run": "runs/x",
        "epochs": 3,
        "steps": 111,
        "test": 0.9376,
        "seconds": 12.345,
    }
    assert reproduce.table([row]).splitlines()[2] == (
        "| CNN | configs/mnist1d_cnn.yaml | 93.8% | 94% | 3 (111) | 12.3 | runs/x |"
    )


@pytest.fixture
def no_mnist1d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEGRAPH_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.delitem(sys.modules, "mnist1d.data", raising=False)


@pytest.mark.parametrize("script", ["reproduce", "train"])
def test_a_missing_mnist1d_is_one_line_and_exit_2(
    no_mnist1d: None, script: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "runs"
    if script == "reproduce":
        argv = ["mnist1d", "--out", str(out)]
    else:
        argv = ["--config", str(CONFIGS / "mnist1d_cnn.yaml"), "--out", str(out / "cnn")]
    assert load_script(script).main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: ") and err[-1].endswith(f"mnist1d is not installed: {HINT}")
    assert "mnist1d_" in err[-1] and ": data: " in err[-1]  # names the config and its key
    assert not out.exists()


def test_a_bad_override_is_one_line_and_exit_2(
    fake_mnist1d: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["mnist1d", "--set", "train.epoch=1", "--out", str(tmp_path / "runs")]
    assert load_script("reproduce").main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "error: --set train.epoch=1: train.epoch: unknown key; did you mean 'epochs'?"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.test_fraction=0.2",
            "error: --set data.test_fraction=0.2: data.test_fraction: mnist1d comes with its own "
            "test set (1000 samples): set data.test_fraction to 0",
        ),
        (
            "data.name=digits",  # data that fits the logistic regression but has no test set
            "error: configs/mnist1d_logreg.yaml: data: digits has no test set to score",
        ),
    ],
)
def test_a_second_or_missing_test_set_is_one_line_and_exit_2(
    fake_mnist1d: dict, override: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "runs"
    assert load_script("reproduce").main(["mnist1d", "--set", override, "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == message
    assert not out.exists()
