"""Sweep test fixtures: a tiny spiral base config, sweep configs beside it, the CLI."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "sweep.py"

# 90 points, a 2-16-3 network: an epoch takes milliseconds, so a trial is mostly process start.
BASE = """\
seed: 0
data: {name: spiral, n_per_class: 30, classes: 3, noise: 0.2, val_fraction: 0.2}
model:
  layers: [{type: affine, out_dim: 16}, {type: relu}, {type: affine, out_dim: 3}]
  loss: {type: softmax_cross_entropy}
optim: {type: sgd, lr: 0.1, momentum: 0.9}
train: {epochs: 4, batch_size: 32}
"""


@pytest.fixture
def write_sweep(tmp_path: Path) -> Callable[[str], Path]:
    """Writes base.yaml and, beside it, a sweep config with the given text; returns its path."""
    (tmp_path / "base.yaml").write_text(BASE)

    def write(text: str, name: str = "sweep.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """Runs scripts/sweep.py with arguments; one BLAS thread, as workers share 2 cores."""

    def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [sys.executable, str(SCRIPT), *map(str, args)]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)

    return run


@pytest.fixture
def study_name() -> str:
    """A study name no earlier test run used (a database outlives the test)."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def one_thread() -> dict[str, str]:
    """The environment for a worker process: one BLAS thread."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
