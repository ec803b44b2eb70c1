"""Results of a run: summary.json, the line that ends a run, and the samples to evaluate on."""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gategraph.data import Splits, Standardizer
from gategraph.experiments.build import Experiment, prepare_inputs
from gategraph.saving.checkpoint import Checkpoint
from gategraph.training.evaluation import Pair
from gategraph.training.trainer import Trainer


def summarize(
    trainer: Trainer, splits: Mapping[str, tuple[np.ndarray, np.ndarray]], *, run: Path
) -> dict[str, Any]:
    """summary.json: the final model's metrics on each split (test included), the best and
    the last epoch's metrics, and which checkpoint holds the final model."""
    p = trainer.progress
    history = p.history
    best_row = history[p.best_epoch - 1] if p.best_epoch else None
    final = {name: trainer.evaluate(X, y) for name, (X, y) in splits.items() if len(X)}
    return {
        "run": str(run),
        "epochs": p.epoch,
        "steps": p.global_step,
        "stopped_early": p.stopped,
        "best_epoch": p.best_epoch,
        "final_checkpoint": "best" if trainer.best_weights is not None else "last",
        "final": final,
        "best": best_row,
        "last": history[-1] if history else None,
    }


def final_line(summary: Mapping[str, Any]) -> str:
    """The one line that ends a run: accuracies of the final model and where the run is."""
    parts = [
        f"{name} acc {m['acc']:.4f}" if m["acc"] is not None else f"{name} loss {m['loss']:.4g}"
        for name, m in summary["final"].items()
    ]
    return f"final: {', '.join(parts)} (epoch {summary['epochs']}); run saved in {summary['run']}"


def pick_split(splits: Splits, name: str | None) -> tuple[str, Pair]:
    """The split called `name`, by default test if it has samples, else val, else train."""
    if name is None:
        name = next(n for n in ("test", "val", "train") if len(getattr(splits, n)[0]))
    X, y = getattr(splits, name)
    if len(X) == 0:
        raise ValueError(f"the run has no {name} split (data.{name}_fraction is 0)")
    return name, (X, y)


def inputs_for(
    experiment: Experiment, checkpoint: Checkpoint, X: np.ndarray, y: np.ndarray, source: Path
) -> Pair:
    """Raw samples from a file prepared as the run's data was: checked against the model's
    input size and classes, standardized with the checkpoint's statistics, cast, reshaped."""
    n_features, n_classes = math.prod(experiment.input_shape), experiment.n_classes
    if X.shape[1] != n_features:
        raise ValueError(
            f"{source}: {X.shape[1]} features per sample, but the model takes {n_features}"
        )
    if n_classes is not None and (y >= n_classes).any():
        row = int(np.flatnonzero(y >= n_classes)[0])
        raise ValueError(
            f"{source}: sample {row} has label {int(y[row])}, but the model knows "
            f"{n_classes} classes (0..{n_classes - 1})"
        )
    saved = checkpoint.state.get("standardizer")
    standardizer = None if saved is None else Standardizer(saved["mean"], saved["std"])
    dtype = experiment.config["dtype"]
    return prepare_inputs(X, standardizer, dtype, experiment.input_shape), y
