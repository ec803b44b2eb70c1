"""Training: the loop (Trainer.fit) and what hooks into it as callbacks; evaluation."""

from gategraph.training.callback import Callback
from gategraph.training.checkpoints import Checkpoints
from gategraph.training.diagnostics import Diagnostics
from gategraph.training.early_stopping import EarlyStopping
from gategraph.training.evaluation import confusion_matrix, evaluate, labels_of, predict
from gategraph.training.guard import NonFiniteError, NonFiniteGuard
from gategraph.training.progress_bar import ProgressBar
from gategraph.training.trainer import Trainer
from gategraph.training.weights import load_weights

__all__ = [
    "Callback",
    "Checkpoints",
    "Diagnostics",
    "EarlyStopping",
    "NonFiniteError",
    "NonFiniteGuard",
    "ProgressBar",
    "Trainer",
    "confusion_matrix",
    "evaluate",
    "labels_of",
    "load_weights",
    "predict",
]
