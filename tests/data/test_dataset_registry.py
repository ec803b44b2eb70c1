"""DATASETS, dataset_options and load_dataset: names, option checks, pinned messages."""

import inspect
from pathlib import Path

import numpy as np
import pytest

from gategraph.data.registry import DATASETS, REQUIRED, dataset_options, load_dataset
from gategraph.data.toy import blobs, spiral

VALID = "blobs, circles, digits, file, mnist1d, moons, spiral, xor"


def test_registered_names() -> None:
    assert ", ".join(sorted(DATASETS)) == VALID


def test_dataset_options_are_the_signature_defaults() -> None:
    assert dataset_options("spiral") == {"n_per_class": 100, "classes": 3, "noise": 0.2}
    assert dataset_options("file") == {"path": REQUIRED, "label": None}
    assert dataset_options("digits") == {}
    assert list(dataset_options("blobs")) == [
        "n_samples",
        "centers",
        "n_features",
        "cluster_std",
        "center_box",
    ]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_option_is_keyword_with_context_rng_only(name: str) -> None:
    params = inspect.signature(DATASETS.get(name)).parameters
    assert set(params) - set(dataset_options(name)) <= {"rng"}
    if "rng" in params:
        assert params["rng"].kind is inspect.Parameter.KEYWORD_ONLY


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ValueError) as info:
        load_dataset("spirl", {}, rng=np.random.default_rng(0))
    assert str(info.value) == f"unknown dataset 'spirl' (did you mean 'spiral'?); valid: {VALID}"
    with pytest.raises(ValueError, match=f"^unknown dataset 'zzz'; valid: {VALID}$"):
        dataset_options("zzz")


def test_unknown_and_missing_options_are_named() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError) as info:
        load_dataset("spiral", {"n_per_clas": 5}, rng=rng)
    assert (
        str(info.value)
        == "spiral got unknown ['n_per_clas']; accepted: n_per_class, classes, noise"
    )
    with pytest.raises(ValueError) as info:
        load_dataset("file", {"label": "y"}, rng=rng)
    assert str(info.value) == "file needs option 'path'; accepted: path, label"
    with pytest.raises(TypeError, match="^dataset 'spiral' needs a mapping of options, got"):
        load_dataset("spiral", [("noise", 0.1)], rng=rng)  # type: ignore[arg-type]


def test_load_dataset_passes_options_and_rng() -> None:
    X, y = load_dataset("spiral", {"n_per_class": 4, "noise": 0.3}, rng=np.random.default_rng(5))
    X_direct, y_direct = spiral(4, noise=0.3, rng=np.random.default_rng(5))
    assert np.array_equal(X, X_direct) and np.array_equal(y, y_direct)
    X, _ = load_dataset("blobs", {"center_box": [0, 1]}, rng=np.random.default_rng(5))
    assert np.array_equal(X, blobs(center_box=(0, 1), rng=np.random.default_rng(5))[0])


def test_load_dataset_without_rng_for_digits_and_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert load_dataset("digits", {}, rng=rng)[0].shape == (1797, 64)
    path = tmp_path / "d.csv"
    path.write_text("y,a\n1,0.5\n0,2\n")
    X, y = load_dataset("file", {"path": str(path), "label": "y"}, rng=rng)
    assert X.tolist() == [[0.5], [2.0]] and y.tolist() == [1, 0]
    assert rng.bit_generator.state == state
