"""build(config): shapes inferred, seeds reproduced, dtypes kept, data standardized on train."""

from typing import Any

import numpy as np
import pytest

from data import load_dataset, split
from models.build import build, build_model
from models.config import ConfigError, apply_overrides, resolve_config
from models.sequential import Model, Sequential


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
    assert exp.model.backward(exp.loss.backward()) is None  # the data needs no gradient
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
