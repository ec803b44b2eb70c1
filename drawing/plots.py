"""Pictures of a run: learning curves and, for 2-D data, the classifier's decision regions.

matplotlib (the `[plot]` extra) is imported on first use only, and figures are drawn without
pyplot straight to PNG with the Agg renderer: no window, no display, no global figure state.
"""

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gategraph.data import Standardizer
from gategraph.experiments.build import Experiment, load_experiment, prepare_inputs
from gategraph.experiments.results import checkpoint_name, default_checkpoint
from gategraph.saving.checkpoint import atomic_write
from gategraph.saving.run import Run
from gategraph.training.evaluation import labels_of, predict
from gategraph.training.weights import load_weights

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL = 'pip install -e ".[plot]"'
CLASS_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)  # matplotlib's tab10, cycled for more classes
Classify = Callable[[np.ndarray], np.ndarray]  # raw samples (N, 2) -> class ids (N,)


def figure_class() -> type["Figure"]:
    """matplotlib's Figure; ImportError with the install hint when matplotlib is absent."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"matplotlib is not installed: {INSTALL}") from None
    return Figure


def figure(width: float, height: float) -> "Figure":
    """A new Figure of `width` x `height` inches at 100 dpi, laid out without overlaps."""
    return figure_class()(figsize=(width, height), dpi=100, layout="constrained")


def plot_run(folder: Path, checkpoint: str | None = None, out: Path | None = None) -> list[Path]:
    """Write curves.png (the best epoch marked) and, when the data is 2-D and labelled by
    class, decision_boundary.png (the model of the run's config.yaml with the weights of
    `checkpoint`, by default the run's default checkpoint: best, else last) into `out`
    (default: the run folder). Returns the paths written. Raises ImportError without
    matplotlib, ValueError (ConfigError, CheckpointError) for a run folder that cannot be read.
    """
    figure_class()  # a missing matplotlib fails before any work
    run = Run.open(Path(folder))
    out = run.folder if out is None else Path(out)
    history = read_metrics(run.folder / "metrics.jsonl")
    best = run.load("best").state["progress"]["epoch"] if run.checkpoint("best").is_file() else None
    written = [save(curves_figure(history, run.folder.name, best), out / "curves.png")]
    experiment = load_experiment(run.config_path)[1]
    if experiment.input_shape == (2,) and experiment.n_classes is not None:
        kind = checkpoint or default_checkpoint(run)
        state = run.load(kind).state
        load_weights(experiment.model, state, source=str(run.checkpoint(kind)))
        name = checkpoint_name(kind, state["progress"]["epoch"], state["progress"]["step"])
        title = f"{run.folder.name}: {name}"
        fig = boundary_figure(classifier(experiment, state), *raw_points(experiment), title)
        written.append(save(fig, out / "decision_boundary.png"))
    return written


def save(fig: "Figure", path: Path) -> Path:
    """Write `fig` as a PNG to `path`, atomically (a crash never leaves a torn image)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        path, lambda f: fig.savefig(f, format="png", pil_kwargs={"optimize": True}), fsync=False
    )
    return path


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl, one per epoch; ValueError when absent or empty."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the metrics ({err.strerror or err})") from None
    try:
        rows = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON lines ({err})") from None
    if not rows:
        raise ValueError(f"{path}: no epoch finished yet, nothing to plot")
    return rows


def curves_figure(
    history: list[dict[str, Any]], title: str = "", best_epoch: int | None = None
) -> "Figure":
    """Loss (and accuracy, for class labels) per epoch, train solid and validation dashed;
    `best_epoch` (the best checkpoint's) as a dotted vertical line on each panel."""
    panels = [("loss", "train_loss", "val_loss")]
    if any(row.get("train_acc") is not None for row in history):
        panels.append(("accuracy", "train_acc", "val_acc"))
    fig = figure(4.0 * len(panels), 3.2)
    epochs = [row["epoch"] for row in history]
    for ax, (name, *keys) in zip(
        fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        for key, style in zip(keys, ("-", "--"), strict=True):
            values = [math.nan if row.get(key) is None else row[key] for row in history]
            if not all(math.isnan(v) for v in values):
                ax.plot(epochs, values, style, label=key.split("_")[0].replace("val", "validation"))
        if best_epoch:
            ax.axvline(best_epoch, color="0.4", linestyle=":", label=f"best (epoch {best_epoch})")
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def decision_grid(
    classify: Classify, X: np.ndarray, resolution: int = 200, margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xs (R,), ys (R,) spanning X's bounding box widened by `margin` of its size on each
    side, and the class `classify` gives each grid point: labels (R, R), labels[i, j] being
    the class at (xs[j], ys[i])."""
    low, high = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-12)
    xs, ys = (np.linspace(low[k] - pad[k], high[k] + pad[k], resolution) for k in range(2))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return xs, ys, classify(grid).reshape(resolution, resolution)


def boundary_figure(
    classify: Classify,
    X: np.ndarray,
    y: np.ndarray,
    held_out: np.ndarray,
    title: str = "decision regions",
) -> "Figure":
    """The class regions of `classify` with the samples X (N, 2) on top, coloured by label y;
    training samples as dots, `held_out` ones (validation, test) as triangles."""
    n_classes = int(max(y.max() + 1, 2))
    colors = [CLASS_COLORS[c % len(CLASS_COLORS)] for c in range(n_classes)]
    xs, ys, labels = decision_grid(classify, X)
    fig = figure(5.0, 5.0)
    ax = fig.subplots()
    ax.contourf(xs, ys, labels, levels=np.arange(n_classes + 1) - 0.5, colors=colors, alpha=0.3)
    for mask, marker, name in ((~held_out, "o", "train"), (held_out, "^", "held out")):
        if mask.any():
            point_colors = [colors[c] for c in y[mask]]
            ax.scatter(
                *X[mask].T,
                c=point_colors,
                marker=marker,
                s=16,
                edgecolors="k",
                linewidths=0.4,
                label=name,
            )
    ax.set(title=title, xlabel="x0", ylabel="x1")
    for handle in ax.legend(loc="upper right").legend_handles:
        handle.set_facecolor("0.7")  # the marker says the split; colours say the class
    return fig


def classifier(experiment: Experiment, state: dict[str, Any]) -> Classify:
    """Raw samples -> the model's class ids, standardized with the checkpoint's statistics."""
    saved = state.get("standardizer")
    standardizer = None if saved is None else Standardizer(saved["mean"], saved["std"])
    config = experiment.config

    def classify(X: np.ndarray) -> np.ndarray:
        inputs = prepare_inputs(X, standardizer, config["dtype"], experiment.input_shape)
        return labels_of(predict(experiment.model, inputs))

    return classify


def raw_points(experiment: Experiment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sample of the run's splits in the data's own units (standardizing undone), their
    labels, and which are held out (validation or test)."""
    splits, standardizer = experiment.splits, experiment.standardizer
    X = np.concatenate([split[0] for split in splits]).astype(np.float64)
    y = np.concatenate([split[1] for split in splits])
    if standardizer is not None:
        X = X * standardizer.std + standardizer.mean
    return X, y, np.arange(len(X)) >= len(splits.train[0])
