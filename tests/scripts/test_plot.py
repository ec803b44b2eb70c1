"""scripts/plot.py and models/plots.py: the PNGs of a run (size, not blank, the class regions),
the decision grid's geometry, standardization as in training, one-line errors (exit 2)."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gategraph.drawing import plots
from gategraph.experiments.build import build
from gategraph.experiments.config import load_config
from gategraph.experiments.session import Session
from gategraph.saving.run import Run
from gategraph.training.evaluation import labels_of, predict
from gategraph.training.weights import load_weights

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"

NEEDS_PLOT = 'needs the plot extra (pip install -e ".[plot]")'


def plot_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plot_script", ROOT / "scripts" / "plot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(config: str, folder: Path, *overrides: str) -> Path:
    session = Session.start(load_config(CONFIGS / config, list(overrides)), folder, quiet=True)
    session.fit()
    return session.run.folder


@pytest.fixture(scope="module")
def spiral_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/mlp.yaml (the CS231n spiral, standardized), 30 epochs."""
    return train("mlp.yaml", tmp_path_factory.mktemp("runs") / "spiral", "train.epochs=30")


def read_png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)[..., :3]  # (H, W, RGB) floats in [0, 1]


def share(image: np.ndarray, color: str, alpha: float = 1.0) -> float:
    """Fraction of the pixels showing `color` (hex) drawn at `alpha` over white."""
    rgb = np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    blended = 1 - alpha * (1 - rgb)
    return float(np.mean(np.all(np.abs(image - blended) < 0.02, axis=-1)))


def test_plot_writes_both_pictures_of_a_2d_run(
    spiral_run: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    assert plot_script().main(["--run", str(spiral_run)]) == 0
    names = ["curves.png", "decision_boundary.png"]
    assert capsys.readouterr().out.splitlines() == [f"wrote {spiral_run / n}" for n in names]
    curves, boundary = (read_png(spiral_run / name) for name in names)
    assert curves.shape == (320, 800, 3) and boundary.shape == (500, 500, 3)
    for image in (curves, boundary):
        assert image.std() > 0.05  # not blank
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 100  # lines, text, antialiasing
    train_line, val_line = plots.CLASS_COLORS[:2]  # matplotlib's first two line colours
    assert share(curves, train_line) > 0.002 and share(curves, val_line) > 0.002
    for color in plots.CLASS_COLORS[:3]:  # three classes: three regions, each > 10%
        assert share(boundary, color, alpha=0.3) > 0.10
    assert share(boundary, plots.CLASS_COLORS[3], alpha=0.3) == 0.0


def test_decision_regions_use_the_training_standardization(spiral_run: Path) -> None:
    run = Run.open(spiral_run)
    state = run.load("best").state
    experiment = build(load_config(run.config_path))
    assert experiment.standardizer is not None
    load_weights(experiment.model, state, source="best")
    X_raw, y, held_out = plots.raw_points(experiment)
    assert len(X_raw) == 600 and held_out.sum() == 120
    assert np.abs(X_raw).max() <= 1.5  # the spiral's own units (standardized ones reach ~2)
    X_std = np.concatenate([X for X, _ in experiment.splits])
    expected = labels_of(predict(experiment.model, X_std))
    np.testing.assert_array_equal(plots.classifier(experiment, state)(X_raw), expected)
    assert np.mean(expected == y) > 0.9


def test_decision_grid_geometry() -> None:
    X = np.array([[-1.0, 0.0], [1.0, 2.0]])
    xs, ys, labels = plots.decision_grid(lambda P: (P[:, 0] > 0) + 2 * (P[:, 1] > 1), X, 5)
    np.testing.assert_allclose(xs, [-1.2, -0.6, 0.0, 0.6, 1.2])
    np.testing.assert_allclose(ys, [-0.2, 0.4, 1.0, 1.6, 2.2])
    expected = (xs[None, :] > 0) + 2 * (ys[:, None] > 1)  # labels[i, j] at (xs[j], ys[i])
    np.testing.assert_array_equal(labels, expected)


def test_curves_without_validation_or_accuracy() -> None:
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": None} for e in range(1, 6)]
    fig = plots.curves_figure(history, title="runs/x")
    (ax,) = fig.axes  # regression: a loss panel only
    assert (fig.get_suptitle(), ax.get_title()) == ("runs/x", "loss")
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1, 0.5, 1 / 3, 0.25, 0.2])
    assert fig.get_size_inches().tolist() == [4.0, 3.2]


def test_curves_mark_the_best_epoch(spiral_run: Path) -> None:
    pytest.importorskip("matplotlib")
    history = plots.read_metrics(spiral_run / "metrics.jsonl")
    best = Run.open(spiral_run).load("best").state["progress"]["epoch"]
    assert best == 1 + int(np.argmin([row["val_loss"] for row in history]))
    fig = plots.curves_figure(history, "spiral", best_epoch=best)
    for ax in fig.axes:  # loss and accuracy panels alike
        marker = ax.get_lines()[-1]
        assert marker.get_label() == f"best (epoch {best})"
        assert list(marker.get_xdata()) == [best, best]
        assert f"best (epoch {best})" in [t.get_text() for t in ax.get_legend().get_texts()]
    plain = plots.curves_figure(history, "spiral")
    assert all("best" not in line.get_label() for ax in plain.axes for line in ax.get_lines())


def test_no_decision_boundary_beyond_two_features(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    run = train("digits_mlp.yaml", tmp_path / "digits", "train.epochs=2")
    assert plot_script().main(["--run", str(run), "--out", str(tmp_path / "pictures")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'pictures' / 'curves.png'}\n"
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["curves.png"]


def test_a_wrong_run_folder_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    assert plot_script().main(["--run", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere'}: no such run folder\n"
    assert plot_script().main(["--run", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path}: not a run folder (no checkpoints/last.npz)\n"
    )


def test_a_run_without_metrics_is_one_line_and_exit_2(
    spiral_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.npz").write_bytes(
        (spiral_run / "checkpoints" / "last.npz").read_bytes()
    )
    (tmp_path / "metrics.jsonl").write_text("")
    assert plot_script().main(["--run", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'metrics.jsonl'}: no epoch finished yet, nothing to plot\n"
    )


def test_missing_matplotlib_is_one_line_and_exit_2(
    spiral_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "matplotlib.figure", raising=False)
    before = sorted(p.name for p in spiral_run.iterdir())
    assert plot_script().main(["--run", str(spiral_run)]) == 2
    assert capsys.readouterr().err == (
        'error: matplotlib is not installed: pip install -e ".[plot]"\n'
    )
    assert sorted(p.name for p in spiral_run.iterdir()) == before


def test_train_plot_writes_the_pictures_at_the_end(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--config"]
    command += [
        str(ROOT / "configs" / "mlp.yaml"),
        "--quiet",
        "--plot",
        "--out",
        str(tmp_path / "r"),
    ]
    command += ["--set", "train.epochs=3", "--set", "schedule=null"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "curves.png").stat().st_size > 1000
    assert (tmp_path / "r" / "decision_boundary.png").stat().st_size > 1000
    assert done.stdout.rstrip().endswith("decision_boundary.png")
