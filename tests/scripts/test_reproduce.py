"""scripts/reproduce.py: the table's rows, the official test set, one-line errors (exit 2).

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

import data.mnist1d
from models.build import build
from models.config import load_config

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
    for part, n in data.mnist1d.SIZES.items():
        arrays[f"X_{part}"] = rng.standard_normal((n, 40))
        arrays[f"y_{part}"] = rng.integers(0, 10, n)
    monkeypatch.setenv("GATEGRAPH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data.mnist1d, "build_mnist1d", lambda: arrays)
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
        n_train = len(build(load_config(CONFIGS / config, ["train.epochs=1"])).splits.train[0])
        assert int(steps) == -(-n_train // 100)  # one epoch of batches of 100
        metrics = [json.loads(text) for text in (Path(run) / "metrics.jsonl").open()]
        assert [m["epoch"] for m in metrics] == [1]
        assert 0.0 <= float(acc) <= 100.0
    assert names == ["logistic regression", "MLP", "CNN"]
    assert sorted(p.name for p in out.iterdir()) == ["mnist1d_cnn", "mnist1d_logreg", "mnist1d_mlp"]


def test_scores_come_from_the_official_test_part(fake_mnist1d: dict) -> None:
    reproduce = load_script("reproduce")
    experiment = build(load_config(CONFIGS / "mnist1d_cnn.yaml"))
    X, y = reproduce.official_test(experiment)
    assert X.shape == (1000, 1, 40) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0, :], fake_mnist1d["X_test"].astype(np.float32))
    np.testing.assert_array_equal(y, fake_mnist1d["y_test"])
    assert len(experiment.splits.test[0]) == 0  # never a random slice of the training part


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
