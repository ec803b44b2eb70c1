"""A model's weights by name: its buffers, loading a saved state into it, copies of states."""

from typing import Any

import numpy as np

from gategraph.models.sequential import Model
from gategraph.saving.checkpoint import load_arrays
from gategraph.training.progress import State


def model_buffers(model: Model) -> dict[str, np.ndarray]:
    """Layer state that is saved but not trained (BatchNorm's running statistics), by dotted
    name like the params: {"batch_norm0.running_mean": array}."""
    return {
        f"{name}.{key}": array
        for name, layer in model.layers.items()
        for key, array in getattr(layer, "buffers", {}).items()
    }


def load_weights(model: Model, state: State, *, source: str) -> None:
    """Copy a state's params and buffers into `model`, in place, after checking that every
    name, shape and dtype matches (CheckpointError lists each difference)."""
    targets = {name: p.value for name, p in model.params().items()} | model_buffers(model)
    load_arrays({**state["params"], **state["buffers"]}, targets, source=source)


def copy_tree(tree: Any) -> Any:
    """A deep copy of nested dicts of arrays."""
    if isinstance(tree, dict):
        return {k: copy_tree(v) for k, v in tree.items()}
    return np.array(tree, copy=True)
