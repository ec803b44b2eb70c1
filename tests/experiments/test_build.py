"""build(config): shapes inferred, seeds reproduced, dtypes kept, data standardized on train,
a dataset's fixed test set kept as the test split."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gategraph.data import load_dataset, split
from gategraph.data.registry import DATASETS
from gategraph.experiments.build import build, build_model, load_experiment
from gategraph.experiments.config import ConfigError, apply_overrides, load_config, resolve_config
from gategraph.experiments.session import Session
from gategraph.models.sequential import Model, Sequential


def mlp(**changes: Any) -> dict[str, Any]:
    config = {
        "seed": 0,
        "data": {"name": "spiral", "n_per_class": 30, "classes": 3},
        "model": {
            "layers": [
                {"type": "affine", "out_dim": 16},
                {"type": "relu"},
                {"type": "affine", "out_dim": 3},
            ]
        },
        "optim": {"type": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3},
        "schedule": {"type": "cosine", "warmup_epochs": 2},
        "train": {"epochs": 10},
    }
    return apply_overrides(config, [f"{k}={v}" for k, v in changes.items()])


def residual(dtype: str = "float32") -> dict[str, Any]:
    return resolve_config(
        {
            "dtype": dtype,
            "data": {"name": "moons", "n_samples": 40},
            "model": {
                "graph": [
                    {"name": "out", "type": "affine", "inputs": ["skip"], "out_dim": 2},
                    {"name": "h1", "type": "affine", "inputs": ["x"], "out_dim": 5},
                    {"name": "r1", "type": "relu", "inputs": ["h1"]},
                    {"name": "h2", "type": "affine", "inputs": ["r1"], "out_dim": 5},
                    {"name": "r2", "type": "relu", "inputs": ["h2"]},
                    {"name": "skip", "type": "add", "inputs": ["r1", "r2"]},
                ],
                "output": "out",
            },
            "optim": {"type": "sgd", "lr": 0.1},
        }
    )


def shapes(model: Model) -> dict[str, tuple[int, ...]]:
    return {name: p.value.shape for name, p in model.params().items()}


def test_in_dim_is_inferred_along_the_chain() -> None:
    exp = build(mlp())
    assert isinstance(exp.model, Sequential)
    assert shapes(exp.model) == {
        "affine0.W": (2, 16),
        "affine0.b": (16,),
        "affine1.W": (16, 3),
        "affine1.b": (3,),
    }
    assert exp.input_shape == (2,) and exp.n_classes == 3
    assert "in_dim" not in exp.config["model"]["layers"][0]  # inferred, not written back


def test_in_channels_and_in_dim_follow_data_shape() -> None:
    config = resolve_config(
        {
            "data": {"name": "digits", "shape": [1, 8, 8]},
            "model": {
                "layers": [
                    {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "pad": 1},
                    {"type": "relu"},
                    {"type": "flatten"},
                    {"type": "affine", "out_dim": 10},
                ]
            },
            "optim": {"type": "sgd", "lr": 0.1},
        }
    )
    exp = build(config)
    assert exp.input_shape == (1, 8, 8)
    assert exp.splits.train[0].shape[1:] == (1, 8, 8)
    weights = [p.value.shape for name, p in exp.model.params().items() if name.endswith("W")]
    assert weights == [(4, 1, 3, 3), (4 * 8 * 8, 10)]


def test_shape_must_hold_the_features() -> None:
    with pytest.raises(ConfigError) as info:
        build(mlp(**{"data.shape": "[3]"}))
    assert str(info.value) == "data.shape: [3] holds 3 values, but a sample has 2 features"


def test_given_in_dim_must_match_the_data() -> None:
    config = mlp(**{"model.layers[2].in_dim": 15})
    with pytest.raises(ConfigError) as info:
        build(config)
    assert str(info.value) == (
        "model.layers[2].in_dim: is 15, but the samples reaching this layer have shape (16,), "
        "which gives 16"
    )
    assert shapes(build(mlp(**{"model.layers[2].in_dim": 16})).model)["affine1.W"] == (16, 3)


def test_residual_graph_matches_numpy() -> None:
    exp = build(residual("float64"))
    p = {name: param.value for name, param in exp.model.params().items()}
    assert p["h1.W"].shape == (2, 5) and p["h2.W"].shape == (5, 5) and p["out.W"].shape == (5, 2)
    X, y = exp.splits.train
    r1 = np.maximum(X @ p["h1.W"] + p["h1.b"], 0)
    r2 = np.maximum(r1 @ p["h2.W"] + p["h2.b"], 0)
    expected = (r1 + r2) @ p["out.W"] + p["out.b"]
    np.testing.assert_allclose(exp.model.forward(X), expected, rtol=1e-12)


def test_residual_graph_backward_matches_finite_differences() -> None:
    exp = build(residual("float64"))
    X, y = exp.splits.train
    W = exp.model.params()["h1.W"]

    def loss() -> float:
        return exp.loss.forward(exp.model.forward(X), y)

    loss()
    assert exp.model.backward(exp.loss.backward()[0]) is None  # the data needs no gradient
    analytic = W.grad.copy()
    numeric = np.zeros_like(analytic)
    for index in np.ndindex(W.value.shape):
        saved = W.value[index]
        W.value[index] = saved + 1e-6
        plus = loss()
        W.value[index] = saved - 1e-6
        minus = loss()
        W.value[index] = saved
        numeric[index] = (plus - minus) / 2e-6
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def test_same_seed_same_experiment() -> None:
    a, b = build(mlp()), build(mlp())
    for name, pa in a.model.params().items():
        assert np.array_equal(pa.value, b.model.params()[name].value)
    for part in ("train", "val", "test"):
        for xa, xb in zip(getattr(a.splits, part), getattr(b.splits, part), strict=True):
            assert np.array_equal(xa, xb)
    assert a.rng.integers(1 << 30) == b.rng.integers(1 << 30)


def test_different_seed_differs() -> None:
    a, b = build(mlp()), build(mlp(seed=1))
    assert not np.array_equal(
        a.model.params()["affine0.W"].value, b.model.params()["affine0.W"].value
    )
    assert not np.array_equal(a.splits.train[0], b.splits.train[0])


def test_data_and_model_streams_are_independent() -> None:
    a, wider_noise, other_width = (
        build(mlp()),
        build(mlp(**{"data.noise": 0.5})),
        build(mlp(**{"model.layers[0].out_dim": 8})),
    )
    W = "affine0.W"
    assert np.array_equal(a.model.params()[W].value, wider_noise.model.params()[W].value)
    assert np.array_equal(a.splits.train[0], other_width.splits.train[0])


def test_dtype_reaches_params_and_data() -> None:
    for dtype in ("float32", "float64"):
        exp = build(mlp(dtype=dtype))
        assert {p.value.dtype for p in exp.model.params().values()} == {np.dtype(dtype)}
        assert {X.dtype for X, _ in (exp.splits.train, exp.splits.val, exp.splits.test)} == {
            np.dtype(dtype)
        }
        assert exp.model.forward(exp.splits.val[0]).dtype == np.dtype(dtype)


def test_standardization_uses_train_statistics_only() -> None:
    exp = build(mlp(**{"data.val_fraction": 0.3, "data.test_fraction": 0.2, "dtype": "float64"}))
    data_seed, _ = np.random.SeedSequence(0).spawn(2)
    rng = np.random.default_rng(data_seed)
    X, y = load_dataset("spiral", {"n_per_class": 30, "classes": 3, "noise": 0.2}, rng=rng)
    raw = split(X, y, 0.3, 0.2, rng=rng)
    mean, std = raw.train[0].mean(axis=0), raw.train[0].std(axis=0)
    np.testing.assert_allclose(exp.standardizer.mean, mean, rtol=1e-12)
    for part in ("train", "val", "test"):
        np.testing.assert_allclose(
            getattr(exp.splits, part)[0], (getattr(raw, part)[0] - mean) / std
        )
        assert np.array_equal(getattr(exp.splits, part)[1], getattr(raw, part)[1])
    assert not np.allclose(exp.splits.val[0].mean(axis=0), 0, atol=1e-3)


def test_without_standardize_data_is_raw() -> None:
    exp = build(mlp(**{"data.standardize": "false"}))
    assert exp.standardizer is None
    assert np.abs(exp.splits.train[0]).max() <= 1.0 + 4 * 0.2  # spiral radius 1 plus noise


def test_optimizer_schedule_and_loss_come_from_the_config() -> None:
    exp = build(mlp())
    params = exp.model.params()
    assert exp.optimizer.params == list(params.values())
    assert exp.optimizer.n_decay == params["affine0.W"].value.size + params["affine1.W"].value.size
    assert exp.optimizer.momentum == 0.9 and exp.optimizer.weight_decay == 1e-3
    assert exp.schedule.epochs == 10 and exp.schedule.warmup_epochs == 2
    assert exp.optimizer.lr == pytest.approx(0.1 / 3)  # the cosine warm-up's first epoch
    assert type(exp.loss).__name__ == "SoftmaxCrossEntropy"
    assert build(mlp(schedule="null")).schedule is None


def test_build_model_alone_matches_build() -> None:
    exp = build(mlp())
    _, model_seed = np.random.SeedSequence(0).spawn(2)
    model = build_model(exp.config, (2,), 3, rng=np.random.default_rng(model_seed))
    for name, p in model.params().items():
        assert np.array_equal(p.value, exp.model.params()[name].value)


def test_output_must_fit_the_classes() -> None:
    with pytest.raises(ConfigError) as info:
        build_model(mlp(), (2,), 4, rng=np.random.default_rng(0))
    assert str(info.value) == (
        "model.layers[2]: outputs samples of shape (3,), which do not fit the data's 4 classes: "
        "SoftmaxCrossEntropy expects class ids in [0, 3), got 3"
    )
    with pytest.raises(ConfigError) as info:
        build_model(mlp(), (2,), 2, rng=np.random.default_rng(0))
    assert (
        str(info.value)
        == "model.layers[2]: outputs 3 values per sample, but the data has 2 classes"
    )


def test_shape_probe_leaves_dropout_rng_and_batch_norm_alone() -> None:
    layers = [
        {"type": "affine", "out_dim": 8},
        {"type": "batch_norm"},
        {"type": "dropout", "p": 0.5},
        {"type": "affine", "out_dim": 3},
    ]
    config = resolve_config({**mlp(), "model": {"layers": layers}})
    rng = np.random.default_rng(5)
    model = build_model(config, (2,), 3, rng=rng)
    fresh = np.random.default_rng(5)
    fresh.standard_normal((2, 8)), fresh.standard_normal((8, 3))  # the two affine inits
    assert rng.integers(1 << 30) == fresh.integers(1 << 30)
    norm = model.layers["batch_norm0"]
    assert np.array_equal(norm.buffers["running_mean"], np.zeros(8))
    assert model.training and all(layer.training for layer in model.layers.values())


# ---- a dataset with a fixed test set ------------------------------------------------------


def fixed_test_set(nan: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """40 training samples (3 features around 5, classes 0..3, 10 each) and a fixed test set of
    12 around -3, fresh arrays at every call; `nan` spoils a training feature."""
    rng = np.random.default_rng(1)
    X, X_test = rng.normal(5.0, 2.0, (40, 3)), rng.normal(-3.0, 0.5, (12, 3))
    if nan:
        X[:, 1] = np.nan
    return X, np.arange(40) % 4, X_test, np.arange(12) % 4


@pytest.fixture
def fixed_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """`fixed_test_set` registered as the dataset `fixed` for this test."""
    monkeypatch.setitem(DATASETS._classes, "fixed", fixed_test_set)


def fixed(**changes: Any) -> dict[str, Any]:
    config = {
        "seed": 0,
        "dtype": "float64",
        "data": {"name": "fixed", "val_fraction": 0.2},
        "model": {"layers": [{"type": "affine", "out_dim": 4}]},
        "optim": {"type": "sgd", "lr": 0.1},
        "train": {"epochs": 3, "batch_size": 8},
    }
    return apply_overrides(config, [f"{k}={v}" for k, v in changes.items()])


def raw_fixed_splits() -> tuple[tuple, tuple, tuple]:
    """What build_data must give before standardizing: the training part split by the data
    stream (val_fraction 0.2, no test slice), the fixed test set as it came."""
    X, y, X_test, y_test = fixed_test_set()
    data_seed, _ = np.random.SeedSequence(0).spawn(2)
    train, val, _ = split(X, y, 0.2, 0.0, rng=np.random.default_rng(data_seed))
    return train, val, (X_test, y_test)


def fixed_file(folder: Path, data_line: str) -> Path:
    """A config file for the `fixed` dataset with `data_line` at line 4, in the data block."""
    path = folder / "fixed.yaml"
    lines = ["seed: 0", "data:", "  name: fixed", f"  {data_line}", "model:"]
    lines += ["  layers: [{type: affine, out_dim: 4}]", "optim: {type: sgd, lr: 0.1}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_fixed_test_set_is_the_test_split(fixed_data: None) -> None:
    exp = build(fixed(**{"data.standardize": "false"}))
    assert [len(y) for _, y in exp.splits] == [32, 8, 12]
    assert np.bincount(exp.splits.val[1]).tolist() == [2, 2, 2, 2]  # stratified
    for got, expected in zip(exp.splits, raw_fixed_splits(), strict=True):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(exp.splits.test[0], fixed_test_set()[2])  # untouched, in order
    assert exp.n_classes == 4


def test_a_fixed_test_set_is_prepared_with_train_statistics(fixed_data: None) -> None:
    exp = build(fixed(dtype="float32", **{"data.shape": "[1, 3]"}))
    (X_train, _), (X_val, _), (X_test, _) = raw_fixed_splits()
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    np.testing.assert_allclose(exp.standardizer.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(exp.standardizer.std, std, rtol=1e-12)
    assert not np.allclose(mean, np.concatenate([X_train, X_val]).mean(axis=0), rtol=1e-3)
    X = exp.splits.test[0]
    assert X.shape == (12, 1, 3) and X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_allclose(X[:, 0], (X_test - mean) / std, rtol=1e-5)
    assert X.mean() < -2  # test samples around -3, scaled by train's (mean 5, std 2)


def test_a_test_fraction_is_refused_with_a_fixed_test_set(fixed_data: None, tmp_path: Path) -> None:
    reason = "fixed comes with its own test set (12 samples): set data.test_fraction to 0"
    with pytest.raises(ConfigError) as info:
        build(fixed(**{"data.test_fraction": 0.25}))
    assert str(info.value) == f"data.test_fraction: {reason}"
    path = fixed_file(tmp_path, "test_fraction: 0.25")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value) == f"{path}:4: data.test_fraction: {reason}"
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["data.test_fraction=0.1"])
    assert str(info.value) == f"--set data.test_fraction=0.1: data.test_fraction: {reason}"
    assert load_config(path, ["data.test_fraction=0"])["data"]["test_fraction"] == 0.0


def test_bad_data_with_a_fixed_test_set_is_a_config_error_at_data(
    fixed_data: None, tmp_path: Path
) -> None:
    path = fixed_file(tmp_path, "nan: true")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value) == f"{path}:2: data: Standardizer.fit needs finite X, got NaN or Inf"


def test_a_session_writes_the_fixed_test_sets_metrics(fixed_data: None, tmp_path: Path) -> None:
    session = Session.start(fixed(), tmp_path / "run", quiet=True)
    session.fit()
    session.summarize()
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert list(saved["final"]) == ["train", "val", "test"]
    params, standardizer = session.experiment.model.params(), session.experiment.standardizer
    _, _, X_test, y_test = fixed_test_set()
    X = (X_test - standardizer.mean) / standardizer.std
    scores = X @ params["affine0.W"].value + params["affine0.b"].value
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert saved["final"]["test"]["loss"] == pytest.approx(-log_probs[np.arange(12), y_test].mean())
    assert saved["final"]["test"]["acc"] == np.mean(scores.argmax(axis=1) == y_test)


def conv_then_norms(*norms: dict[str, Any]) -> dict[str, Any]:
    """Samples (2, 4) -> conv1d(out_channels=5, kernel_size=2) -> (5, 3) -> `norms` -> 3 scores."""
    layers = [{"type": "conv1d", "out_channels": 5, "kernel_size": 2}, *norms]
    return resolve_config(
        {
            "data": {"name": "blobs", "n_samples": 12, "n_features": 8, "shape": [2, 4]},
            "model": {"layers": [*layers, {"type": "flatten"}, {"type": "affine", "out_dim": 3}]},
            "optim": {"type": "sgd", "lr": 0.1},
        }
    )


def test_num_features_is_inferred_on_the_axis_the_norm_normalizes() -> None:
    exp = build(conv_then_norms({"type": "batch_norm"}, {"type": "layer_norm"}))
    assert shapes(exp.model)["batch_norm0.gamma"] == (5,)  # channels: axis 0 of (5, 3)
    assert shapes(exp.model)["layer_norm0.gamma"] == (3,)  # the last axis of (5, 3)
    X = exp.splits.train[0]
    assert exp.model.predict(X).shape == (len(X), 3)


@pytest.mark.parametrize(
    ("norm", "expected"),
    [
        ({"type": "layer_norm", "num_features": 5}, "is 5, {} which gives 3 on axis -1"),
        ({"type": "batch_norm", "num_features": 3}, "is 3, {} which gives 5 on axis 0"),
    ],
)
def test_given_num_features_must_match_its_axis(norm: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(conv_then_norms(norm))
    reaching = "but the samples reaching this layer have shape (5, 3),"
    assert str(info.value) == "model.layers[1].num_features: " + expected.format(reaching)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (
            {"type": "affine", "out_dim": 2**58},
            "model.layers[0].out_dim: would have 576460752303423488 weights (in_dim 2 × out_dim "
            "288230376151711744); a layer may have at most 268435456",
        ),
        (
            {"type": "conv2d", "out_channels": 1, "kernel_size": 2**14 + 1},  # 16385² > 2**28
            "model.layers[0].kernel_size: would have 268468225 weights (in_channels 1 × "
            "out_channels 1 × kernel_size 268468225); a layer may have at most 268435456",
        ),
    ],
)
def test_layer_weights_are_bounded_before_anything_is_allocated(
    layer: dict[str, Any], expected: str
) -> None:
    config = mlp(**{"model.layers": f"[{layer}]"})
    if layer["type"] == "conv2d":
        config = apply_overrides(config, ["data.shape=[1, 1, 2]"])
    with pytest.raises(ConfigError) as info:
        build(config)
    assert str(info.value) == expected


def test_weight_bound_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gategraph.experiments.build.MAX_WEIGHTS", 6)
    assert shapes(build(mlp(**{"model.layers": "[{type: affine, out_dim: 3}]"})).model) == {
        "affine0.W": (2, 3),
        "affine0.b": (3,),
    }
    with pytest.raises(ConfigError) as info:
        build(mlp(**{"model.layers": "[{type: affine, out_dim: 4}]"}))
    assert str(info.value) == (
        "model.layers[0].out_dim: would have 8 weights (in_dim 2 × out_dim 4); a layer may have "
        "at most 6"
    )


def test_sizes_no_array_can_have_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "gategraph.experiments.config.sections.MAX_DATA", 10**40
    )  # past the bounds: numpy objects
    monkeypatch.setattr("gategraph.experiments.build.MAX_WEIGHTS", 10**40)
    moons = mlp(**{"data": "{name: moons, n_samples: 1000000000000000000000000000000}"})
    with pytest.raises(ConfigError) as info:
        build(moons)
    assert str(info.value).startswith("data: a size is too large (OverflowError: ")
    with pytest.raises(ConfigError) as info:
        build(mlp(**{"model.layers": "[{type: affine, out_dim: 288230376151711744}]"}))
    message = str(info.value)
    assert message.startswith("model.layers[0]: a size is too large (MemoryError: ")
    assert "(2, 288230376151711744)" in message


def test_summary_of_a_built_model_needs_no_forward_first() -> None:
    chain = build(mlp()).model.summary().splitlines()
    assert chain[3].split() == ["affine0", "(Affine)", "(None,", "16)", "48"]  # 2 * 16 + 16
    assert chain[-1] == "Total params: 99"  # 48 + 0 + 16 * 3 + 3
    graph = build(residual()).model.summary().splitlines()
    assert graph[-1].startswith("Total params: ")
    assert "(None, " in graph[3]
