"""Every shipped config loads, builds, and scores the data's classes with finite numbers."""

from pathlib import Path

import numpy as np
import pytest

from gategraph.experiments.build import build
from gategraph.experiments.config import dump_config, load_config

# sweep configs (a `space:` over a `base:` config) are tested with the sweeps
CONFIGS = sorted(
    path
    for path in (Path(__file__).parents[1] / "configs").glob("*.yaml")
    if not path.stem.endswith("_sweep")
)
EXTRA_OF_DATASET = {"mnist1d": "mnist1d"}  # datasets made by an optional package


def built(path: Path) -> object:
    """`path` as a test case: one that builds data of an optional package needs its extra."""
    extra = EXTRA_OF_DATASET.get(load_config(path)["data"]["name"])
    marks = [pytest.mark.extra(extra)] if extra else []
    return pytest.param(path, marks=marks, id=path.name)


def test_the_shipped_configs_are_there() -> None:
    names = {path.name for path in CONFIGS}
    expected = {"mlp.yaml", "spiral_svm.yaml", "linear_softmax.yaml", "digits_mlp.yaml"}
    assert expected | {"moons_mlp.yaml", "residual_mlp.yaml"} <= names


@pytest.mark.parametrize("path", [built(path) for path in CONFIGS])
def test_config_builds(path: Path) -> None:
    config = load_config(path)
    exp = build(config)
    X, y = exp.splits.train
    scores = exp.model.forward(X)
    assert scores.shape == (len(y), exp.n_classes)
    assert scores.dtype == np.dtype(config["dtype"])
    loss = exp.loss.forward(scores, y)
    assert np.isfinite(loss) and loss > 0
    assert exp.model.backward(exp.loss.backward()[0]) is None
    assert all(np.isfinite(p.grad).all() for p in exp.model.params().values())


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_resolves_to_a_fixed_point(path: Path, tmp_path: Path) -> None:
    config = load_config(path)
    saved = tmp_path / "config.yaml"
    saved.write_text(dump_config(config))
    assert load_config(saved) == config
