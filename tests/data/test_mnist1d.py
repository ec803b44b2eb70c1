"""MNIST-1D: the paper's arrays, isolation from mnist1d's side effects, the cache, the message,
and its fixed test set reaching a run's summary.json and evaluate.py --split test."""

import importlib.util
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import gategraph.data.mnist1d as m
from gategraph.data.registry import DATASETS, load_dataset
from gategraph.experiments.config import ConfigError, load_config
from gategraph.saving.run import Run

HINT = 'pip install -e ".[mnist1d]"'
ROOT = Path(__file__).resolve().parents[2]
NAMES = ("X_train", "y_train", "X_test", "y_test")  # the order mnist1d() returns them in

NEEDS_MNIST1D = 'needs the mnist1d extra (pip install -e ".[mnist1d]")'


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays of the paper's shapes and dtypes, for the cache logic (no mnist1d needed)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for part, n in m.SIZES.items():
        arrays[f"X_{part}"] = rng.standard_normal((n, 40))
        arrays[f"y_{part}"] = rng.integers(0, 10, n)
    return arrays


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder in use (GATEGRAPH_CACHE)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GATEGRAPH_CACHE", str(folder))
    return folder


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """build_mnist1d replaced by fake arrays; the list counts its calls."""
    calls: list[int] = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return fake_arrays()

    monkeypatch.setattr(m, "build_mnist1d", build)
    return calls


# ---- without the mnist1d package ---------------------------------------------------------


def test_registered_as_a_dataset() -> None:
    assert DATASETS.get("mnist1d") is m.mnist1d


def test_missing_package_says_how_to_install(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # `import mnist1d` now fails
    monkeypatch.delitem(sys.modules, "mnist1d.data", raising=False)
    with pytest.raises(m.MissingPackageError) as info:
        m.mnist1d()
    assert str(info.value) == f"mnist1d is not installed: {HINT}"
    assert isinstance(info.value, ImportError) and isinstance(info.value, ValueError)
    assert not cache.exists()


def test_missing_dependency_is_named(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("mnist1d") is None:
        pytest.skip(NEEDS_MNIST1D)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(
        ImportError, match="^mnist1d needs matplotlib, which is not installed: pip install"
    ):
        load_dataset("mnist1d", {}, rng=np.random.default_rng(0))


def test_takes_no_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        load_dataset("mnist1d", {"part": "train"}, rng=np.random.default_rng(0))
    assert str(info.value) == "mnist1d got unknown ['part']; accepted: none"
    old = tmp_path / "old.yaml"  # a config from before the fixed test set: `part` is gone
    old.write_text("data:\n  name: mnist1d\n  part: train\nmodel:\n  layers: [{type: relu}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(old)
    assert str(info.value) == (
        f"{old}:3: data.part: unknown key; valid: name, val_fraction, test_fraction, "
        "standardize, shape"
    )


def test_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GATEGRAPH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert m.cache_dir() == tmp_path / "home" / ".cache" / "gategraph"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert m.cache_dir() == tmp_path / "home" / ".cache" / "gategraph"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert m.cache_dir() == tmp_path / "xdg" / "gategraph"
    monkeypatch.setenv("GATEGRAPH_CACHE", str(tmp_path / "mine"))
    assert m.cache_dir() == tmp_path / "mine"


def test_cache_is_built_once_then_read(cache: Path, builds: list[int]) -> None:
    first = m.mnist1d()
    assert len(builds) == 1 and [p.name for p in cache.iterdir()] == ["mnist1d.npz"]
    again = m.mnist1d()
    assert len(builds) == 1  # read from the cache, not rebuilt
    expected = fake_arrays()
    for name, made, read in zip(NAMES, first, again, strict=True):
        np.testing.assert_array_equal(made, expected[name])
        np.testing.assert_array_equal(read, expected[name])
        assert read.dtype == (np.float64 if name.startswith("X") else np.int64)
    assert [a.shape for a in again] == [(4000, 40), (4000,), (1000, 40), (1000,)]


@pytest.mark.parametrize(
    "spoil",
    ["garbage", "truncated", "npy", "wrong shape", "pickled"],
)
def test_a_corrupt_cache_is_rebuilt(cache: Path, builds: list[int], spoil: str) -> None:
    path = cache / "mnist1d.npz"
    m.write_cache(path, fake_arrays(seed=1))
    if spoil == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif spoil == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif spoil == "npy":
        np.save(path.open("wb"), np.zeros(3))
    elif spoil == "wrong shape":
        np.savez(path, **{**fake_arrays(), "X_test": np.zeros((1000, 39))})
    else:
        np.savez(path, **{**fake_arrays(), "y_test": np.array([{"x": 1}] * 1000, dtype=object)})
    assert m.read_cache(path) is None
    _, _, X, _ = m.mnist1d()
    assert len(builds) == 1
    np.testing.assert_array_equal(X, fake_arrays()["X_test"])
    assert m.read_cache(path) is not None  # the rebuilt arrays replaced the bad file


def test_cache_write_is_atomic_and_leaves_no_temporary_file(cache: Path) -> None:
    path = cache / "mnist1d.npz"
    m.write_cache(path, fake_arrays())
    m.write_cache(path, fake_arrays(seed=2))
    assert [p.name for p in cache.iterdir()] == ["mnist1d.npz"]
    np.testing.assert_array_equal(m.read_cache(path)["y_train"], fake_arrays(2)["y_train"])


def test_an_unwritable_cache_folder_only_warns(
    tmp_path: Path, builds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GATEGRAPH_CACHE", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="^cannot cache MNIST-1D in .*GATEGRAPH_CACHE"):
        X, _, _, _ = m.mnist1d()
    assert X.shape == (4000, 40) and len(builds) == 1


# ---- with the mnist1d package --------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The real arrays, built once into a fresh cache from an empty working directory, with
    the global random states and the folders as they were before and after."""
    pytest.importorskip("mnist1d", reason=NEEDS_MNIST1D)
    cwd, cache = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("cache")
    random.seed(123)
    np.random.seed(123)
    before = random.getstate(), np.random.get_state()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATEGRAPH_CACHE", str(cache))
        patch.chdir(cwd)
        arrays = m.load_mnist1d()
        yield {
            "arrays": arrays,
            "before": before,
            "after": (random.getstate(), np.random.get_state()),
            "cwd": sorted(cwd.iterdir()),
            "cache": sorted(p.name for p in cache.iterdir()),
        }


def test_the_papers_split_and_shapes(built: dict) -> None:
    a = built["arrays"]
    assert a["X_train"].shape == (4000, 40) and a["X_test"].shape == (1000, 40)
    assert a["X_train"].dtype == np.float64 and a["y_train"].dtype == np.int64
    np.testing.assert_array_equal(
        np.bincount(a["y_train"]), [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
    )
    np.testing.assert_array_equal(
        np.bincount(a["y_test"]), [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]
    )
    np.testing.assert_array_equal(a["y_train"][:10], [2, 6, 4, 5, 6, 6, 6, 0, 3, 1])
    np.testing.assert_array_equal(a["y_test"][:10], [2, 6, 3, 9, 4, 3, 1, 9, 5, 2])
    np.testing.assert_allclose(
        a["X_train"][0, :4],
        [-0.3320056674, -0.4719103657, -0.7786970763, -1.0097408265],
        atol=1e-8,
    )
    X = np.concatenate([a["X_train"], a["X_test"]])  # mnist1d standardizes the whole set
    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12


def test_global_random_state_is_restored(built: dict) -> None:
    (py_before, np_before), (py_after, np_after) = built["before"], built["after"]
    assert py_after == py_before
    assert np_after[0] == np_before[0] and np_after[2:] == np_before[2:]
    np.testing.assert_array_equal(np_after[1], np_before[1])


def test_nothing_is_written_but_the_cache(built: dict) -> None:
    assert built["cwd"] == []
    assert built["cache"] == ["mnist1d.npz"]


def test_generation_is_deterministic_whatever_the_global_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mnist1d", reason=NEEDS_MNIST1D)
    monkeypatch.chdir(tmp_path)
    np.random.seed(1)
    first = m.generate(num_samples=100)
    np.random.seed(2)
    random.seed(2)
    state = np.random.get_state()
    second = m.generate(num_samples=100)
    assert np.random.get_state()[1].tolist() == state[1].tolist()
    assert first["x"].shape == (80, 40) and first["x_test"].shape == (20, 40)
    for key in ("x", "y", "x_test", "y_test"):
        np.testing.assert_array_equal(first[key], second[key])
    assert list(tmp_path.iterdir()) == []


def test_the_cache_is_reused_without_calling_make_dataset(
    built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mnist1d.data

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("make_dataset called although the cache holds the data")

    monkeypatch.setattr(mnist1d.data, "make_dataset", refuse)
    monkeypatch.setenv("GATEGRAPH_CACHE", str(tmp_path))
    m.write_cache(tmp_path / "mnist1d.npz", built["arrays"])
    loaded = load_dataset("mnist1d", {}, rng=np.random.default_rng(0))
    for name, array in zip(NAMES, loaded, strict=True):
        np.testing.assert_array_equal(array, built["arrays"][name])
    with pytest.raises(AssertionError, match="make_dataset called"):
        m.build_mnist1d()  # the spy is in place: a rebuild would have failed above


def test_a_run_is_scored_on_the_official_test_set(
    built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GATEGRAPH_CACHE", str(tmp_path / "cache"))
    m.write_cache(tmp_path / "cache" / "mnist1d.npz", built["arrays"])
    run, config = tmp_path / "run", ROOT / "configs" / "mnist1d_logreg.yaml"
    argv = ["--config", str(config), "--set", "train.epochs=1", "--out", str(run)]
    assert load_script("train").main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    params = Run.open(run).load(summary["final_checkpoint"]).state["params"]
    X, y = built["arrays"]["X_test"].astype(np.float32), built["arrays"]["y_test"]
    correct = int(np.sum(np.argmax(X @ params["affine0.W"] + params["affine0.b"], axis=1) == y))
    assert summary["final"]["test"]["acc"] == pytest.approx(correct / 1000, abs=1e-12)
    assert correct > 150  # one epoch of logistic regression beats chance (100 of 1000)
    capsys.readouterr()
    argv = ["--run", str(run), "--checkpoint", summary["final_checkpoint"], "--split", "test"]
    assert load_script("evaluate").main(argv) == 0
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.endswith(", test split: 1000 samples")
    assert re.fullmatch(rf"loss [\d.]+, accuracy [\d.]+ \({correct}/1000\)", second)
