"""Saving: checkpoints (validated .npz, no pickles), atomic writes, run folders and their lock."""

from gategraph.saving.checkpoint import Checkpoint, CheckpointError, atomic_write
from gategraph.saving.run import Run, RunInUseError

__all__ = ["Checkpoint", "CheckpointError", "Run", "RunInUseError", "atomic_write"]
