"""Build a whole experiment from a config: data splits, model, loss, optimizer, schedule."""

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike

from gategraph.core.registry import Registry
from gategraph.data import Splits, Standardizer, class_ids, load_dataset, split
from gategraph.experiments.config import (
    INFERRED_OPTIONS,
    SPLIT_OPTIONS,
    ConfigError,
    Key,
    graph_order,
    read_config,
    resolve_config,
)
from gategraph.layers import LAYERS, Layer
from gategraph.losses import LOSSES, Loss
from gategraph.models.graph import ComputationalGraph
from gategraph.models.sequential import Model, Sequential
from gategraph.optim import OPTIMIZERS, Optimizer
from gategraph.optim.schedules import SCHEDULES, Schedule

Shape = tuple[int, ...]
_OBJECTIONS = (ValueError, TypeError, OverflowError, MemoryError)  # a config's bad values


@dataclass
class Experiment:
    """Everything a run needs, built from one resolved config.

    `splits` hold X standardized with train statistics, cast to `config["dtype"]` and shaped
    (N, *input_shape); `rng` initialized the layers and goes on to shuffle and drop out.
    `n_classes` is None when the labels are not class ids.
    """

    config: dict[str, Any]
    splits: Splits
    standardizer: Standardizer | None
    model: Model
    loss: Loss
    optimizer: Optimizer
    schedule: Schedule | None
    rng: Generator
    n_classes: int | None
    input_shape: Shape


def build(config: Mapping[str, Any]) -> Experiment:
    """The experiment `config` describes; the same config gives the same experiment, bit for
    bit. The seed spawns two streams: one makes and splits the data, one initializes the model
    (and is then the trainer's). Raises ConfigError naming the key: `model.layers[2]: ...`."""
    config = resolve_config(config)
    data_seed, model_seed = np.random.SeedSequence(config["seed"]).spawn(2)
    splits, standardizer = build_data(config, np.random.default_rng(data_seed))
    rng = np.random.default_rng(model_seed)
    input_shape, n_classes = splits.train[0].shape[1:], _n_classes(splits)
    model = build_model(config, input_shape, n_classes, rng=rng)
    optimizer = _construct(OPTIMIZERS, config["optim"], ("optim",), params=model.params().values())
    schedule = None
    if config["schedule"] is not None:
        epochs = config["train"]["epochs"]
        schedule = _construct(
            SCHEDULES, config["schedule"], ("schedule",), optimizer=optimizer, epochs=epochs
        )
    return Experiment(
        config=config,
        splits=splits,
        standardizer=standardizer,
        model=model,
        loss=_construct(LOSSES, config["model"]["loss"], ("model", "loss")),
        optimizer=optimizer,
        schedule=schedule,
        rng=rng,
        n_classes=n_classes,
        input_shape=input_shape,
    )


def load_experiment(
    path: str | Path, overrides: Sequence[str] = ()
) -> tuple[dict[str, Any], Experiment]:
    """The resolved config in file `path` after `overrides`, and the experiment it builds
    (built once). A constructor's objection is located like a validation error: `file:line:
    key: reason` or `--set K=V: ...`. Raises ConfigError, DataError (both ValueError)."""
    config, origin = read_config(path, overrides)
    try:
        return config, build(config)
    except ConfigError as err:
        raise origin.locate(err) from err


def build_data(config: Mapping[str, Any], rng: Generator) -> tuple[Splits, Standardizer | None]:
    """The splits of a resolved config's data, standardized with train statistics (when
    `data.standardize`), X cast to `dtype` and reshaped to (N, *data.shape). A dataset with a
    fixed test set keeps it as the test split (see `_split_data`). Raises ConfigError at `data`
    for what the data cannot do, at `data.test_fraction` for a second test set."""
    data = config["data"]
    try:
        parts = _split_data(data, rng)
        standardizer = Standardizer().fit(parts.train[0]) if data["standardize"] else None
    except ConfigError:
        raise
    except _OBJECTIONS as err:
        raise ConfigError(_said(err), ("data",)) from err
    dtype, shape = np.dtype(config["dtype"]), data["shape"]
    train, val, test = (
        (prepare_inputs(X, standardizer, dtype, shape), y)
        for X, y in (parts.train, parts.val, parts.test)
    )
    return Splits(train, val, test), standardizer


def _split_data(data: Mapping[str, Any], rng: Generator) -> Splits:
    """The raw splits of a resolved `data` block: the dataset's samples split stratified by
    `val_fraction` and `test_fraction`; or, when the dataset comes with a fixed test set, its
    training part split by `val_fraction` alone and its test set, untouched, as the test split
    (a `test_fraction` > 0 is then refused: there would be two test sets)."""
    options = {k: v for k, v in data.items() if k != "name" and k not in SPLIT_OPTIONS}
    loaded = load_dataset(data["name"], options, rng=rng)
    if len(loaded) == 2:
        return split(*loaded, data["val_fraction"], data["test_fraction"], rng=rng)
    X, y, X_test, y_test = loaded
    if data["test_fraction"] > 0:
        raise ConfigError(
            f"{data['name']} comes with its own test set ({len(y_test)} samples): set "
            "data.test_fraction to 0",
            ("data", "test_fraction"),
        )
    train, val, _ = split(X, y, data["val_fraction"], 0.0, rng=rng)
    return Splits(train, val, (X_test, y_test))


def prepare_inputs(
    X: np.ndarray,
    standardizer: Standardizer | None,
    dtype: DTypeLike,
    shape: Sequence[int] | None,
) -> np.ndarray:
    """Samples X (N, D) as a model takes them: standardized (when `standardizer` is given),
    cast to a C-contiguous `dtype` array and reshaped to (N, *shape) (kept (N, D) without a
    shape). Raises ConfigError at data.shape when `shape` does not hold D values."""
    if standardizer is not None:
        X = standardizer.transform(X)
    _check_range(X, np.dtype(dtype))
    X = np.ascontiguousarray(X, dtype=dtype)
    if shape is None:
        return X
    if math.prod(shape) != math.prod(X.shape[1:]):
        raise ConfigError(
            f"{shape} holds {math.prod(shape)} values, but a sample has "
            f"{math.prod(X.shape[1:])} features",
            ("data", "shape"),
        )
    return X.reshape(len(X), *shape)


def _check_range(X: np.ndarray, dtype: np.dtype) -> None:
    """Refuse finite samples that `dtype` cannot hold (1e300 in float32 would become inf)."""
    if X.dtype.kind != "f" or dtype.kind != "f" or np.finfo(X.dtype).max <= np.finfo(dtype).max:
        return
    if (too_big := np.abs(X) > np.finfo(dtype).max).any():
        i, j = np.argwhere(too_big)[0]
        raise ConfigError(
            f"feature {j} has values beyond {dtype.name} (largest {np.finfo(dtype).max:.3g}), "
            f"e.g. {X[i, j]:.3g} in sample {i}: rescale the data or set dtype: float64",
            ("data",),
        )


def _n_classes(splits: Splits) -> int | None:
    """max(label) + 1 of integer labels, which every dataset (a registered one too) keeps
    in [0, MAX_CLASSES): checked before the model allocates anything; None for other labels."""
    labels = [y for _, y in (splits.train, splits.val, splits.test) if len(y)]
    if not np.issubdtype(labels[0].dtype, np.integer):
        return None
    try:
        labels = [class_ids(y, lambda i: "the dataset's labels") for y in labels]
    except ValueError as err:
        raise ConfigError(str(err), ("data",)) from None
    return int(max(y.max() for y in labels)) + 1


def build_model(
    config: Mapping[str, Any],
    input_shape: Shape,
    n_classes: int | None = None,
    *,
    rng: Generator,
) -> Model:
    """The model of a resolved config for samples of `input_shape`, layers initialized from
    `rng` in `config["dtype"]`. Each layer's in_dim (in_channels, num_features) is inferred
    from the shape reaching it. With `n_classes`, the output must fit the loss for labels
    0..n_classes-1 (so 3 classes and out_dim 2 fail here, not mid-training)."""
    model_config, dtype = config["model"], np.dtype(config["dtype"])
    if "layers" in model_config:
        layers, shape = [], tuple(input_shape)
        for i, spec in enumerate(model_config["layers"]):
            layer, shape = _layer(spec, [shape], ("model", "layers", i), rng, dtype)
            layers.append(layer)
        model: Model = Sequential(layers, input_shape=tuple(input_shape))
        out_key: Key = ("model", "layers", len(layers) - 1)
    else:
        model, shape, out_key = _graph(model_config, tuple(input_shape), rng, dtype)
    if n_classes is not None:
        _check_output(model_config["loss"], shape, n_classes, out_key)
    return model


def _graph(
    model_config: Mapping[str, Any], input_shape: Shape, rng: Generator, dtype: np.dtype
) -> tuple[Model, Shape, Key]:
    """A Model over `model.graph`, its nodes built in topological order."""
    index = {node["name"]: i for i, node in enumerate(model_config["graph"])}
    graph, shapes = ComputationalGraph(), {"x": input_shape}
    graph.input("x", grad=False)
    for name in graph_order(model_config["graph"]):
        node = model_config["graph"][index[name]]
        spec = {k: v for k, v in node.items() if k not in ("name", "inputs")}
        key: Key = ("model", "graph", index[name])
        layer, shapes[name] = _layer(spec, [shapes[i] for i in node["inputs"]], key, rng, dtype)
        graph.add(layer, *node["inputs"], name=name)
    output = model_config["output"]
    graph.output(output)
    return Model(graph, input_shape=input_shape), shapes[output], ("model", "graph", index[output])


def _layer(
    spec: Mapping[str, Any], in_shapes: list[Shape], key: Key, rng: Generator, dtype: np.dtype
) -> tuple[Layer, Shape]:
    """The layer `spec` describes, fed samples of `in_shapes`, and its output sample shape."""
    spec = _with_inferred(spec, in_shapes[0], key)
    _check_weights(spec, key)
    layer = _construct(LAYERS, spec, key, rng=rng, dtype=dtype)
    try:  # output_shape probes in eval mode: no dropout mask drawn, no running statistic moved
        out_shape = layer.output_shape(*[(1, *shape) for shape in in_shapes])[1:]
    except _OBJECTIONS as err:
        shapes = ", ".join(str(s) for s in in_shapes)
        raise ConfigError(f"cannot take samples of shape {shapes}: {_said(err)}", key) from err
    return layer, tuple(out_shape)


def _with_inferred(spec: Mapping[str, Any], shape: Shape, key: Key) -> dict[str, Any]:
    """`spec` with in_dim (the product of the sample shape), in_channels or num_features (the
    size of the axis the layer's `feature_axis` names: the first, channels, unless it says
    otherwise) filled in where the layer takes them; a given one must agree with the shape."""
    spec, cls = dict(spec), LAYERS.get(spec["type"])
    takes = inspect.signature(cls).parameters
    for option in INFERRED_OPTIONS:
        if option not in takes:
            continue
        if option != "in_dim" and not shape:
            raise ConfigError(f"cannot infer {option} from samples of shape ()", key)
        axis = cls.feature_axis
        size = math.prod(shape) if option == "in_dim" else shape[axis]
        given = spec.setdefault(option, size)
        if given != size:
            raise ConfigError(
                f"is {given}, but the samples reaching this layer have shape {shape}, "
                f"which gives {size}{'' if option == 'in_dim' else f' on axis {axis}'}",
                (*key, option),
            )
    return spec


MAX_WEIGHTS = 2**28  # per layer: 1 GiB in float32, and as much again for the gradient
_SIZES = (*INFERRED_OPTIONS, "out_dim", "out_channels", "kernel_size")  # multiply to the weights


def _check_weights(spec: Mapping[str, Any], key: Key) -> None:
    """Refuse, before anything is allocated, a layer whose sizes (in_dim × out_dim,
    in_channels × out_channels × kernel, num_features) multiply past MAX_WEIGHTS. A kernel
    given as one int spans each of the layer's `spatial` axes. Sizes that are not positive
    integers are left to the constructor to name."""
    sizes = {option: spec[option] for option in _SIZES if option in spec}
    if isinstance(sizes.get("kernel_size"), int):
        sizes["kernel_size"] = [sizes["kernel_size"]] * getattr(
            LAYERS.get(spec["type"]), "spatial", 1
        )
    lists = {o: v if isinstance(v, list | tuple) else [v] for o, v in sizes.items()}
    if not all(_is_size(n) for values in lists.values() for n in values):
        return
    counts = {option: math.prod(values) for option, values in lists.items()}
    if (total := math.prod(counts.values())) > MAX_WEIGHTS:
        factors = " × ".join(f"{option} {count}" for option, count in counts.items())
        raise ConfigError(
            f"would have {total} weights ({factors}); a layer may have at most {MAX_WEIGHTS}",
            (*key, max(counts, key=counts.__getitem__)),
        )


def _is_size(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1


def _check_output(loss: Mapping[str, Any], shape: Shape, n_classes: int, key: Key) -> None:
    """Run the loss once on scores of `shape` for labels 0..n_classes-1: its own label checks
    say whether the model's output fits the data."""
    if math.prod(shape) > n_classes:
        raise ConfigError(
            f"outputs {math.prod(shape)} values per sample, but the data has {n_classes} classes",
            key,
        )
    probe = _construct(LOSSES, loss, ("model", "loss"))
    try:
        probe.forward(np.zeros((n_classes, *shape)), np.arange(n_classes))
    except ValueError as err:
        raise ConfigError(
            f"outputs samples of shape {shape}, which do not fit the data's {n_classes} "
            f"classes: {err}",
            key,
        ) from err


def _construct(registry: Registry, spec: Mapping[str, Any], key: Key, **context: Any) -> Any:
    """registry.build(spec, **context), lists given for tuple defaults made tuples; an
    objection of the constructor becomes a ConfigError at `key`."""
    params = inspect.signature(registry.get(spec["type"])).parameters
    tuples = [name for name, p in params.items() if isinstance(p.default, tuple)]
    options = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in spec.items()}
    try:
        return registry.build(options, **context)
    except _OBJECTIONS as err:
        raise ConfigError(_said(err), key) from err


def _said(err: Exception) -> str:
    """What an objection says; a size no array can have says so first."""
    if isinstance(err, OverflowError | MemoryError):
        return f"a size is too large ({type(err).__name__}: {err})"
    return str(err)
