"""Results of a run: summary.json, the line that ends a run, and the samples to evaluate on."""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gategraph.data import Splits, Standardizer
from gategraph.experiments.build import Experiment, prepare_inputs
from gategraph.saving.checkpoint import Checkpoint
from gategraph.saving.run import CHECKPOINT_KINDS, Run, relative
from gategraph.training.evaluation import Pair
from gategraph.training.trainer import Trainer
from gategraph.training.weights import copy_tree, load_weights


def summarize(
    trainer: Trainer, splits: Mapping[str, tuple[np.ndarray, np.ndarray]], run: Run
) -> dict[str, Any]:
    """summary.json: each checkpoint of `run` ("best", "last") evaluated on each split as
    scripts/evaluate.py evaluates it (loaded from its file), with its epoch; `final` is the
    one evaluate.py and plot.py use by default (best, or last when there is none); the best
    and the last epoch's rows of metrics. The trainer's weights are left as they were."""
    p = trainer.progress
    history = p.history
    checkpoints = {
        kind: _evaluate_checkpoint(trainer, run.load(kind), splits)
        for kind in CHECKPOINT_KINDS
        if run.checkpoint(kind).is_file()
    }
    final = default_checkpoint(run)
    return {
        "run": relative(run.folder),
        "epochs": p.epoch,
        "steps": p.global_step,
        "stopped_early": p.stopped,
        "best_epoch": p.best_epoch,
        "final_checkpoint": final,
        "final_epoch": checkpoints[final]["epoch"],
        "final": checkpoints[final]["metrics"],
        "checkpoints": checkpoints,
        "best": history[p.best_epoch - 1] if p.best_epoch else None,
        "last": history[-1] if history else None,
    }


def _evaluate_checkpoint(
    trainer: Trainer, checkpoint: Checkpoint, splits: Mapping[str, Pair]
) -> dict[str, Any]:
    """{"epoch": epochs before it was saved, "metrics": {split: {"loss", "acc"}}}."""
    kept = copy_tree({"values": trainer.optimizer.values, "buffers": trainer.buffers})
    try:
        load_weights(trainer.model, checkpoint.state, source=str(checkpoint.path))
        metrics = {name: trainer.evaluate(X, y) for name, (X, y) in splits.items() if len(X)}
    finally:
        trainer.optimizer.values[...] = kept["values"]
        for name, array in trainer.buffers.items():
            array[...] = kept["buffers"][name]
    return {"epoch": checkpoint.state["progress"]["epoch"], "metrics": metrics}


def default_checkpoint(run: Run) -> str:
    """The checkpoint a run is reported, evaluated and plotted by unless told otherwise:
    "best" (the monitored metric's best epoch), or "last" when there is none yet."""
    return "best" if run.checkpoint("best").is_file() else "last"


def checkpoint_name(kind: str, epoch: int, steps: int = 0) -> str:
    """How every report names a checkpoint: `checkpoint best (after epoch 11)`, or for one
    saved mid-epoch `checkpoint last (after epoch 3 and 5 steps)`."""
    more = f" and {steps} step{'s' * (steps != 1)}" if steps else ""
    return f"checkpoint {kind} (after epoch {epoch}{more})"


def final_line(summary: Mapping[str, Any]) -> str:
    """The one line that ends a run: every split's metrics of the checkpoint evaluate.py uses
    by default, then of the other checkpoint when it is from another epoch, each named with
    its epoch; and where the run is."""
    kind, checkpoints = summary["final_checkpoint"], summary["checkpoints"]
    parts = [f"final: {_named(kind, checkpoints[kind])}"]
    parts += [
        _named(other, c)
        for other, c in checkpoints.items()
        if other != kind and c["epoch"] != checkpoints[kind]["epoch"]
    ]
    return f"{'; '.join(parts)}; run saved in {summary['run']}"


def _named(kind: str, checkpoint: Mapping[str, Any]) -> str:
    metrics = ", ".join(
        f"{name} acc {m['acc']:.4f}" if m["acc"] is not None else f"{name} loss {m['loss']:.4g}"
        for name, m in checkpoint["metrics"].items()
    )
    return f"{checkpoint_name(kind, checkpoint['epoch'])}: {metrics}"


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
