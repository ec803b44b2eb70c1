"""scripts/evaluate.py: loss, accuracy and confusion matrix of a run's checkpoint on a split
or a file, equal to what the run itself measured; bad files and foreign checkpoints refused."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gategraph.data import Splits
from gategraph.experiments.build import build
from gategraph.experiments.config import load_config
from gategraph.experiments.results import pick_split
from gategraph.saving.checkpoint import load_checkpoint
from gategraph.training.evaluation import evaluate
from gategraph.training.weights import load_weights

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def script(name: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / name), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def write_csv(path: Path, X: np.ndarray, y: np.ndarray, names: str) -> None:
    lines = [names] + [
        ",".join(map(repr, [*map(float, x), int(c)])) for x, c in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs on a csv file (hidden sizes 16 and 8) with a test split, 6 epochs each."""
    cwd = tmp_path_factory.mktemp("evaluate")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 2)) * [3.0, 0.5] + 2.0
    y = (X[:, 0] > 2.0).astype(int) + (X[:, 1] > 2.3).astype(int)
    write_csv(cwd / "points.csv", X, y, "a,b,label")
    for name, hidden in (("run", 16), ("other", 8)):
        (cwd / f"{name}.yaml").write_text(
            f"data: {{name: file, path: {cwd / 'points.csv'}, val_fraction: 0.2, "
            "test_fraction: 0.2}\n"
            f"model: {{layers: [{{type: affine, out_dim: {hidden}}}, {{type: relu}}, "
            "{type: affine, out_dim: 3}], loss: {type: softmax_cross_entropy}}\n"
            "optim: {type: sgd, lr: 0.1, momentum: 0.9}\ntrain: {epochs: 6, batch_size: 16}\n"
        )
        done = script("train.py", "--config", f"{name}.yaml", "--out", name, cwd=cwd)
        assert done.returncode == 0, done.stderr
    return cwd


def parse(stdout: str) -> tuple[float, float, np.ndarray]:
    lines = stdout.splitlines()
    loss, acc = map(
        float, re.fullmatch(r"loss (\S+), accuracy (\S+) \(\d+/\d+\)", lines[1]).groups()
    )
    assert lines[2] == "confusion matrix (rows: true class, columns: predicted class)"
    matrix = np.array([[int(c) for c in line.split()[1:]] for line in lines[4:]])
    return loss, acc, matrix


def test_default_is_the_best_checkpoint_on_the_test_split(runs: Path) -> None:
    done = script("evaluate.py", "--run", "run", "--checkpoint", "last", cwd=runs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "run run, checkpoint last (after epoch 6), test split: 30 samples"
    )
    loss, acc, matrix = parse(done.stdout)
    summary = json.loads((runs / "run" / "summary.json").read_text())
    final = summary["checkpoints"]["last"]["metrics"]["test"]
    assert (loss, acc) == (round(final["loss"], 4), round(final["acc"], 4))
    experiment = build(load_config(runs / "run" / "config.yaml"))
    y = experiment.splits.test[1]
    assert matrix.sum(axis=1).tolist() == np.bincount(y, minlength=3).tolist()  # true classes
    assert matrix.trace() == round(final["acc"] * len(y))
    best = script("evaluate.py", "--run", "run", cwd=runs)
    assert best.stdout.splitlines()[0] == (
        f"run run, checkpoint best (after epoch {summary['final_epoch']}), test split: 30 samples"
    )
    assert summary["final_checkpoint"] == "best" and summary["final_epoch"] == summary["best_epoch"]
    final = summary["final"]["test"]
    assert parse(best.stdout)[:2] == (round(final["loss"], 4), round(final["acc"], 4))


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_named_split(runs: Path, split: str) -> None:
    done = script("evaluate.py", "--run", "run", "--checkpoint", "last", "--split", split, cwd=runs)
    summary = json.loads((runs / "run" / "summary.json").read_text())
    final = summary["checkpoints"]["last"]["metrics"][split]
    loss, acc, _ = parse(done.stdout)
    assert (loss, acc) == (round(final["loss"], 4), round(final["acc"], 4))


def test_a_data_file_is_prepared_like_the_training_data(runs: Path) -> None:
    done = script("evaluate.py", "--run", "run", "--data", "points.csv", cwd=runs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith("points.csv: 150 samples")
    experiment = build(load_config(runs / "run" / "config.yaml"))
    state = load_checkpoint(runs / "run" / "checkpoints" / "best.npz").state
    load_weights(experiment.model, state, source="best.npz")
    splits = experiment.splits
    X = np.concatenate([splits.train[0], splits.val[0], splits.test[0]])
    y = np.concatenate([splits.train[1], splits.val[1], splits.test[1]])
    expected = evaluate(experiment.model, experiment.loss, X, y)
    loss, acc, matrix = parse(done.stdout)
    assert (loss, acc) == (round(expected["loss"], 4), round(expected["acc"], 4))
    assert matrix.sum() == 150


def test_train_and_evaluate_report_the_same_checkpoint_by_name(tmp_path: Path) -> None:
    """Early stopping fires: the best epoch is not the last. train.py's final line and
    evaluate.py name the same checkpoint and epoch and print the same test metrics."""
    done = script(
        "train.py", "--config", CONFIGS / "mlp.yaml", "--out", "run",
        "--set", "data.n_per_class=40", "--set", "data.noise=0.5", "--set", "optim.lr=0.3",
        "--set", "data.test_fraction=0.2", "--set", "schedule=null", "--set", "train.epochs=40",
        "--set", "train.early_stopping.patience=3", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    best, last = summary["best_epoch"], summary["epochs"]
    assert summary["stopped_early"] and last == best + 3
    assert (summary["final_checkpoint"], summary["final_epoch"]) == ("best", best)
    epochs = {kind: c["epoch"] for kind, c in summary["checkpoints"].items()}
    assert epochs == {"best": best, "last": last}
    line = done.stdout.splitlines()[-1]
    pattern = (
        r"final: checkpoint best \(after epoch (\d+)\): train acc \S+, val acc \S+, "
        r"test acc (\S+); checkpoint last \(after epoch (\d+)\): train acc \S+, val acc \S+, "
        r"test acc (\S+); run saved in run"
    )
    match = re.fullmatch(pattern, line)
    assert match, line
    assert (int(match[1]), int(match[3])) == (best, last)
    for kind, epoch, acc in (("best", best, match[2]), ("last", last, match[4])):
        shown = script("evaluate.py", "--run", "run", "--checkpoint", kind, cwd=tmp_path)
        title = f"run run, checkpoint {kind} (after epoch {epoch}), test split: 24 samples"
        assert shown.stdout.splitlines()[0] == title
        assert f"{parse(shown.stdout)[1]:.4f}" == acc
        test = summary["checkpoints"][kind]["metrics"]["test"]
        assert f"{test['acc']:.4f}" == acc
    default = script("evaluate.py", "--run", "run", cwd=tmp_path)
    assert default.stdout.splitlines()[0].startswith(
        f"run run, checkpoint best (after epoch {best})"
    )
    assert f"{parse(default.stdout)[1]:.4f}" == match[2] and match[2] != match[4]


# ---- refusals -------------------------------------------------------------------------------


def refused(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stderr == f"error: {message}\n"


def test_a_file_with_other_features_is_refused(runs: Path, tmp_path: Path) -> None:
    write_csv(tmp_path / "three.csv", np.ones((4, 3)), np.zeros(4, int), "a,b,c,label")
    done = script("evaluate.py", "--run", runs / "run", "--data", tmp_path / "three.csv", cwd=runs)
    refused(done, f"{tmp_path / 'three.csv'}: 3 features per sample, but the model takes 2")


def test_a_label_the_model_does_not_know_is_refused(runs: Path, tmp_path: Path) -> None:
    write_csv(tmp_path / "labels.csv", np.ones((4, 2)), np.array([0, 2, 7, 1]), "a,b,label")
    done = script("evaluate.py", "--run", runs / "run", "--data", tmp_path / "labels.csv", cwd=runs)
    refused(done, f"{tmp_path / 'labels.csv'}: sample 2 has label 7, but the model knows 3 "
                  "classes (0..2)")  # fmt: skip


def test_a_checkpoint_from_another_model_is_refused(runs: Path, tmp_path: Path) -> None:
    shutil.copytree(runs / "run", tmp_path / "run")
    shutil.copy(runs / "other" / "checkpoints" / "best.npz", tmp_path / "run" / "checkpoints")
    done = script("evaluate.py", "--run", "run", cwd=tmp_path)
    refused(
        done,
        "run/checkpoints/best.npz: the checkpoint does not match this model: "
        "affine0.W is (2, 8) in the checkpoint, (2, 16) here; "
        "affine0.b is (8,) in the checkpoint, (16,) here; "
        "affine1.W is (8, 3) in the checkpoint, (16, 3) here",
    )


def test_a_missing_split_or_run_is_refused(runs: Path, tmp_path: Path) -> None:
    shutil.copytree(runs / "run", tmp_path / "run")
    config = tmp_path / "run" / "config.yaml"
    config.write_text(config.read_text().replace("test_fraction: 0.2", "test_fraction: 0.0"))
    refused(  # an edited config.yaml would evaluate on other samples
        script("evaluate.py", "--run", "run", "--split", "test", cwd=tmp_path),
        "cannot evaluate run: its config.yaml differs from the checkpoint's config in "
        "data.test_fraction (0.2 -> 0.0), which changes the samples of each split; restore "
        "config.yaml",
    )
    empty = (np.zeros((0, 2)), np.zeros(0, np.int64))
    splits = Splits((np.ones((3, 2)), np.arange(3)), empty, empty)
    with pytest.raises(
        ValueError, match=r"^the run has no test split \(data.test_fraction is 0\)$"
    ):
        pick_split(splits, "test")
    assert pick_split(splits, None)[0] == "train"
    refused(script("evaluate.py", "--run", "nowhere", cwd=tmp_path), "nowhere: no such run folder")
    done = script("evaluate.py", "--run", "run", "--split", "val", "--data", "x.csv", cwd=tmp_path)
    refused(done, "--data and --split are alternatives: give one (see evaluate.py --help)")
