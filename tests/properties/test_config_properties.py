"""Property tests: a config either builds (and its model scores its data with finite numbers)
or fails with a one-line ConfigError naming a key path; no other exception ever escapes.

Configs come from three sources: drawn from the schema (a toy dataset with few samples, a
chain or a DAG of registered layers, every optimizer, schedule and train option, each option
present or left to its default); those configs corrupted; and the shipped configs/*.yaml
mutated (keys deleted, misspelled or added, values replaced by a value of another kind,
registry names swapped, `--set` overrides). Each is written as YAML and read back by
`load_config`, which validates and builds it once. Nothing trains.
"""

import copy
import functools
import importlib.util
import inspect
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gategraph.data import DATASETS, dataset_options
from gategraph.experiments.build import build
from gategraph.experiments.config import (
    ConfigError,
    dump_config,
    load_config,
    render_key,
    resolve_config,
)
from gategraph.layers import LAYERS
from gategraph.layers.init import INITIALIZERS
from gategraph.losses import LOSSES
from gategraph.optim import OPTIMIZERS
from gategraph.optim.schedules import SCHEDULES
from gategraph.training.progress import MONITORS

Key = tuple[str | int, ...]
Config = dict[str, Any]

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TRAINING = {  # training configs (a sweep file, base + space, has no model): path -> dataset
    path: text["data"]["name"]
    for path in sorted(CONFIGS.glob("*.yaml"))
    if "model" in (text := yaml.safe_load(path.read_text()))
}
EXTRA_OF_DATASET = {"mnist1d": "mnist1d"}  # datasets made by an optional package
SHIPPED = [  # sampled: without its extra, a config could only fail with "not installed"
    path
    for path, dataset in TRAINING.items()
    if dataset not in EXTRA_OF_DATASET or importlib.util.find_spec(dataset) is not None
]
MORE = settings(max_examples=2 * settings.default.max_examples)  # builds are cheap
SHIPPED_EACH = settings(max_examples=len(SHIPPED) * settings.default.max_examples)


def options(**strategies: st.SearchStrategy) -> st.SearchStrategy[dict[str, Any]]:
    """A block in which each option is given or left out (its default then applies)."""
    return st.fixed_dictionaries({}, optional=strategies)


# ---- data ---------------------------------------------------------------------------------

SPLITS = {
    "val_fraction": st.floats(0.0, 0.4),
    "test_fraction": st.floats(0.0, 0.3),
    "standardize": st.booleans(),
}
NOISE = st.floats(0.0, 0.5)
TOY = {
    "spiral": {"n_per_class": st.integers(2, 12), "classes": st.integers(2, 4), "noise": NOISE},
    "moons": {"n_samples": st.integers(4, 30), "noise": NOISE},
    "circles": {"n_samples": st.integers(4, 30), "noise": NOISE, "factor": st.floats(0, 0.9)},
    "xor": {"n_samples": st.integers(4, 30), "noise": NOISE},
}


@st.composite
def blobs(draw: st.DrawFn) -> dict[str, Any]:
    centers = draw(st.integers(2, 4))
    low, width = draw(st.floats(-10, 10)), draw(st.floats(0.5, 10))
    block = draw(
        options(
            n_features=st.integers(1, 12),
            cluster_std=st.floats(0.1, 2.0),
            center_box=st.just([low, low + width]),
        )
    )
    return {**block, "centers": centers, "n_samples": draw(st.integers(centers, 30))}


@st.composite
def dataset(draw: st.DrawFn) -> tuple[dict[str, Any], int, int]:
    """A toy data block, its number of features and of classes."""
    name = draw(st.sampled_from([*TOY, "blobs"]))
    block = draw(blobs() if name == "blobs" else options(**TOY[name]))
    given = {**dataset_options(name), **block}
    D = given.get("n_features", 2)
    C = given.get("classes", given.get("centers", 2))
    return {"name": name, **block, **draw(options(**SPLITS))}, D, C


# ---- model --------------------------------------------------------------------------------

ELEMENTWISE = {  # any shape in, same shape out; finite for finite inputs
    "relu": {},
    "tanh": {},
    "sigmoid": {},
    "sin": {},
    "cos": {},
    "negate": {},
    "softmax": {},
    "leaky_relu": {"alpha": st.floats(0.0, 0.5)},
    "scale": {},
    "dropout": {"p": st.floats(0.0, 0.9)},
}
NORMS = {
    "batch_norm": {"momentum": st.floats(0.0, 0.99), "eps": st.floats(1e-5, 0.1)},
    "layer_norm": {"eps": st.floats(1e-5, 0.1)},
}
REQUIRED = {"scale": {"factor": st.floats(-2.0, 2.0)}}  # options without a default
INITS = {"init": st.sampled_from(INITIALIZERS.names()), "init_scale": st.floats(0.01, 1.0)}


def block(draw: st.DrawFn, kinds: dict[str, dict[str, st.SearchStrategy]]) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(kinds)))
    required = st.fixed_dictionaries(REQUIRED.get(kind, {}))
    return {"type": kind, **draw(required), **draw(options(**kinds[kind]))}


def affine(draw: st.DrawFn, out_dim: int) -> dict[str, Any]:
    return {"type": "affine", "out_dim": out_dim, **draw(options(**INITS))}


def flat_layers(draw: st.DrawFn, n_out: int) -> list[dict[str, Any]]:
    """Hidden affine, elementwise and norm layers in any order, then affine(n_out)."""
    layers = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["affine", "elementwise", "norm", "flatten"]))
        if choice == "affine":
            layers.append(affine(draw, draw(st.integers(1, 8))))
        elif choice == "flatten":
            layers.append({"type": "flatten"})
        else:
            layers.append(block(draw, ELEMENTWISE if choice == "elementwise" else NORMS))
    return [*layers, affine(draw, n_out)]


def factors(draw: st.DrawFn, D: int) -> list[int]:
    """[C, L] or [C, H, W] with product D."""
    C = draw(st.sampled_from([d for d in range(1, D + 1) if D % d == 0]))
    rest = D // C
    if draw(st.booleans()):
        return [C, rest]
    H = draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
    return [C, H, rest // H]


def windowed(draw: st.DrawFn, shape: list[int], kind: str) -> tuple[dict[str, Any], list[int]]:
    """A convolution or pooling layer that fits samples of `shape` (C, *S), and its output."""
    S, n = shape[1:], len(shape) - 1
    pad = [draw(st.integers(0, 1)) if kind == "conv" else 0 for _ in S]
    kernel = [draw(st.integers(1, min(3, s + 2 * p))) for s, p in zip(S, pad, strict=True)]
    stride = [draw(st.integers(1, 2)) for _ in S]
    out = [(s + 2 * p - k) // t + 1 for s, p, k, t in zip(S, pad, kernel, stride, strict=True)]
    if kind == "conv":
        channels = draw(st.integers(1, 4))
        spec = {"type": f"conv{n}d", "out_channels": channels, "kernel_size": kernel}
        return {**spec, "stride": stride, "pad": pad, **draw(options(**INITS))}, [channels, *out]
    kind = "avg_pool2d" if n == 2 and draw(st.booleans()) else f"max_pool{n}d"
    return {"type": kind, "pool_size": kernel, "stride": stride}, [shape[0], *out]


def spatial_layers(draw: st.DrawFn, shape: list[int], n_out: int) -> list[dict[str, Any]]:
    """Convolutions, pooling, elementwise and norm layers on (C, *S), then global_avg_pool
    or flatten, then the flat layers."""
    layers = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["conv", "pool", "elementwise", "norm"]))
        if choice in ("conv", "pool"):
            layer, shape = windowed(draw, shape, choice)
        else:
            layer = block(draw, ELEMENTWISE if choice == "elementwise" else NORMS)
        layers.append(layer)
    layers.append({"type": draw(st.sampled_from(["flatten", "global_avg_pool"]))})
    return layers + flat_layers(draw, n_out)


JOINS = ["add", "subtract", "multiply", "max"]


def graph(draw: st.DrawFn, n_out: int) -> dict[str, Any]:
    """A DAG over hidden states of one width: x -> affine -> unary and joining nodes, every
    node leading to `scores` = affine(n_out); listed in a drawn order."""
    width = draw(st.integers(1, 6))
    nodes = [{"name": "h0", "type": "affine", "inputs": ["x"], "out_dim": width}]
    unused = ["h0"]
    for i in range(draw(st.integers(0, 4))):
        names = [node["name"] for node in nodes]
        if draw(st.booleans()):
            inputs = [draw(st.sampled_from(names)), draw(st.sampled_from(names))]
            node = {"type": draw(st.sampled_from(JOINS)), "inputs": inputs}
        else:
            node = {**block(draw, ELEMENTWISE), "inputs": [draw(st.sampled_from(names))]}
        nodes.append({"name": f"n{i}", **node})
        unused = [name for name in unused if name not in node["inputs"]] + [f"n{i}"]
    while len(unused) > 1:
        nodes.append({"name": f"join{len(nodes)}", "type": "add", "inputs": unused[:2]})
        unused = [*unused[2:], nodes[-1]["name"]]
    nodes.append({"name": "scores", **affine(draw, n_out), "inputs": unused})
    return {"graph": draw(st.permutations(nodes)), "output": "scores"}


@st.composite
def model(draw: st.DrawFn, D: int, C: int) -> tuple[Config, list[int] | None, int]:
    """A model block for D features and C classes, the data shape it needs, its outputs."""
    losses = [("softmax_cross_entropy", {}, C), ("svm_hinge", {"margin": st.floats(0, 2)}, C)]
    losses += [("mse", {"reduction": st.sampled_from(["mean", "sum"])}, 1)]
    losses += [("sigmoid_bce", {}, 1)] if C == 2 else []
    name, loss_options, n_out = draw(st.sampled_from(losses))
    loss = {"loss": {"type": name, **draw(options(**loss_options))}}
    if name == "softmax_cross_entropy" and draw(st.booleans()):
        loss = {}  # the default loss
    form = draw(st.sampled_from(["flat", "spatial", "graph"]))
    if form == "graph":
        return {**graph(draw, n_out), **loss}, None, n_out
    if form == "spatial":
        shape = factors(draw, D)
        return {"layers": spatial_layers(draw, shape, n_out), **loss}, shape, n_out
    return {"layers": flat_layers(draw, n_out), **loss}, None, n_out


# ---- optimizer, schedule, train -----------------------------------------------------------

LR = st.floats(1e-4, 1.0)
EPS = st.floats(1e-10, 1e-6)
DECAY = st.floats(0.0, 0.1)
BETAS = st.lists(st.floats(0.0, 0.999), min_size=2, max_size=2)
OPTIM = {
    "sgd": {"momentum": st.floats(0.0, 0.99), "weight_decay": DECAY},
    "adam": {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": DECAY},
    "adamw": {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": DECAY},
    "rmsprop": {
        "lr": LR,
        "alpha": st.floats(0.0, 0.99),
        "eps": EPS,
        "weight_decay": DECAY,
        "momentum": st.floats(0.0, 0.99),
        "centered": st.booleans(),
    },
    "adagrad": {
        "lr": LR,
        "lr_decay": st.floats(0.0, 0.1),
        "weight_decay": DECAY,
        "initial_accumulator_value": st.floats(0.0, 1.0),
        "eps": EPS,
    },
}


@st.composite
def optim(draw: st.DrawFn) -> Config:
    name = draw(st.sampled_from(sorted(OPTIM)))
    block = {"type": name, **draw(options(**OPTIM[name]))}
    if name == "sgd":
        block["lr"] = draw(LR)  # required
        if block.get("momentum", 0) > 0 and draw(st.booleans()):
            block["nesterov"] = True
    return block


def lr_of(block: Config) -> float:
    return block.get(
        "lr", inspect.signature(OPTIMIZERS.get(block["type"])).parameters["lr"].default
    )


@st.composite
def schedule(draw: st.DrawFn, lr: float, epochs: int) -> Config | None:
    kinds = {
        "step": {"gamma": st.floats(0.01, 1.0)},
        "exponential": {"gamma": st.floats(0.01, 1.0)},
        "cosine": {"min_lr": st.floats(0.0, lr), "warmup_epochs": st.integers(0, epochs - 1)},
        "reduce_on_plateau": {
            "mode": st.sampled_from(["min", "max"]),
            "factor": st.floats(0.01, 0.99),
            "patience": st.integers(0, 5),
            "threshold": st.floats(0.0, 0.5),
            "cooldown": st.integers(0, 3),
            "min_lr": st.floats(0.0, 0.1),
        },
    }
    name = draw(st.none() | st.sampled_from(sorted(kinds)))
    if name is None:
        return None
    required = {"step": {"step_size": draw(st.integers(1, 5))}, "exponential": {"gamma": 0.9}}
    return {"type": name, **required.get(name, {}), **draw(options(**kinds[name]))}


@st.composite
def train(draw: st.DrawFn, validation: bool) -> Config:
    monitors = [m for m in MONITORS if validation or not m.startswith("val_")]
    stopping = options(
        monitor=st.sampled_from(monitors),
        patience=st.integers(1, 5),
        min_delta=st.floats(0.0, 0.1),
    )
    return draw(
        options(
            epochs=st.integers(1, 5),
            batch_size=st.integers(1, 64),
            clip_norm=st.none() | st.floats(0.01, 10.0),
            early_stopping=st.none() | stopping.filter(lambda b: "monitor" in b or validation),
            checkpoint_every_epochs=st.integers(1, 3),
            checkpoint_every_steps=st.none() | st.integers(1, 10),
            diagnostics=st.booleans(),
        )
    )


@st.composite
def configs(draw: st.DrawFn) -> tuple[Config, int]:
    """A valid config drawn from the schema, and how many scores its model gives per sample."""
    data, D, C = draw(dataset())
    model_block, shape, n_out = draw(model(D, C))
    if shape is not None:
        data["shape"] = shape
    config = {"data": data, "model": model_block, "optim": draw(optim())}
    config |= draw(
        options(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(["float32", "float64"]))
    )
    validation = data.get("val_fraction", 0.2) > 0
    config["train"] = draw(train(validation))
    epochs = config["train"].get("epochs", 100)
    config["schedule"] = draw(schedule(lr_of(config["optim"]), epochs))
    return config, n_out


# ---- mutations ----------------------------------------------------------------------------

END = "...\n"  # how yaml.safe_dump ends a lone scalar
HUGE = [2**58, 2**62, 2**64, 10**30, -(2**63)]  # no array this long fits in memory
WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 100),
    st.sampled_from(HUGE),
    st.floats(),  # nan, ±inf, 1e308, -0.0, 5e-324, ...
    st.text(max_size=6),
    st.sampled_from(["", "1e-3", "nan", "null", "relu", "x", "float16", "[1, 2]", "two\nlines"]),
    st.lists(st.integers(-2, 5) | st.text(max_size=2), max_size=3),
    st.dictionaries(st.sampled_from(["type", "name", "lr", "a"]), st.integers(-1, 3), max_size=2),
)
NAMES = sorted({*LAYERS.names(), *LOSSES.names(), *OPTIMIZERS.names(), *SCHEDULES.names()})
NAMES += sorted(DATASETS) + sorted(MONITORS) + ["float32", "float64", "mean", "sum", "he"]
KIN = {  # the names a string under this section could be
    "layers": LAYERS.names(),
    "graph": LAYERS.names(),
    "loss": LOSSES.names(),
    "optim": OPTIMIZERS.names(),
    "schedule": SCHEDULES.names(),
    "data": sorted(DATASETS),
    "train": sorted(MONITORS),
}
TOP = ["seed", "dtype", "data", "model", "optim", "schedule", "train"]
SECTIONS = ["layers", "graph", "output", "loss", "inputs", "name", "type", "early_stopping"]
OPTION_NAMES = sorted(
    {o for r in (LAYERS, LOSSES, OPTIMIZERS, SCHEDULES) for n in r.names() for o in r.accepted(n)}
    | {o for n in DATASETS for o in dataset_options(n)}
    | {"epochs", "batch_size", "clip_norm", "monitor", "patience", "min_delta", *SPLITS, "shape"}
    | {"checkpoint_every_epochs", "checkpoint_every_steps", "diagnostics", *TOP, *SECTIONS}
)


def paths(tree: Any, key: Key = ()) -> list[Key]:
    """The key path of every entry below `tree` (mapping values and list items)."""
    if isinstance(tree, dict):
        items: list[tuple[str | int, Any]] = list(tree.items())
    elif isinstance(tree, list):
        items = list(enumerate(tree))
    else:
        return []
    found = []
    for part, value in items:
        found += [(*key, part), *paths(value, (*key, part))]
    return found


def at(tree: Any, key: Key) -> Any:
    for part in key:
        tree = tree[part]
    return tree


def typo(word: str) -> st.SearchStrategy[str]:
    """`word` misspelled: a letter dropped, doubled or swapped with the next, or restyled."""
    i = st.integers(0, max(len(word) - 1, 0))
    return st.one_of(
        i.map(lambda i: word[:i] + word[i + 1 :]),
        i.map(lambda i: word[:i] + word[i : i + 1] * 2 + word[i + 1 :]),
        i.map(lambda i: word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :]),
        st.sampled_from([word.upper(), word + "s", word.replace("_", "-"), f" {word}"]),
    ).filter(lambda w: w != word)


def delete(draw: st.DrawFn, config: Config) -> None:
    *parent, last = draw(st.sampled_from(paths(config)))
    del at(config, parent)[last]


def replace(draw: st.DrawFn, config: Config) -> None:
    """Any entry (a whole section, too) replaced by a value of any kind."""
    *parent, last = draw(st.sampled_from(paths(config)))
    at(config, parent)[last] = draw(WEIRD)


EXTREME_INTS = st.sampled_from([0, 1, 2, -1, *HUGE])  # huge: no array that size can exist
EXTREME_FLOATS = st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e308, -1.0, 1.0, 2.0])
EXTREME_FLOATS |= st.sampled_from([math.inf, -math.inf, math.nan])


def extreme(draw: st.DrawFn, config: Config) -> None:
    """A number replaced by an extreme one of its kind (0, 2**64, 5e-324, inf, nan, ...)."""
    numbers = [k for k in paths(config) if type(at(config, k)) in (int, float)]
    if numbers:
        key = draw(st.sampled_from(numbers))
        kind = EXTREME_INTS if type(at(config, key)) is int else EXTREME_FLOATS
        at(config, key[:-1])[key[-1]] = draw(kind)


def rename(draw: st.DrawFn, config: Config) -> None:
    """A key misspelled, in place, the entries keeping their order."""
    keys = [k for k in paths(config) if isinstance(k[-1], str)]
    *parent, last = draw(st.sampled_from(keys))
    mapping, new = at(config, parent), draw(typo(last))
    entries = [(new if k == last else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(entries)


def insert(draw: st.DrawFn, config: Config) -> None:
    """A key (known somewhere, or made up) added to a mapping, or an item to a list."""
    targets = [()] + [k for k in paths(config) if isinstance(at(config, k), dict | list)]
    target = at(config, draw(st.sampled_from(targets)))
    if isinstance(target, dict):
        name = draw(st.sampled_from(OPTION_NAMES) | st.text(min_size=1, max_size=8))
        target[name] = draw(WEIRD)
    else:
        item = draw(st.sampled_from(target) | WEIRD) if target else draw(WEIRD)
        target.insert(draw(st.integers(0, len(target))), copy.deepcopy(item))


def swap(draw: st.DrawFn, config: Config) -> None:
    """A name (a layer type, a dataset, a monitor, ...) replaced by another of its registry,
    or by any name."""
    named = [k for k in paths(config) if isinstance(at(config, k), str)]
    if named:
        key = draw(st.sampled_from(named))
        kin = next((names for section, names in KIN.items() if section in key), NAMES)
        at(config, key[:-1])[key[-1]] = draw(st.sampled_from(kin) | st.sampled_from(NAMES))


MUTATIONS = {
    "delete": delete,
    "extreme": extreme,
    "insert": insert,
    "rename": rename,
    "replace": replace,
    "swap": swap,
}


@st.composite
def mutated(draw: st.DrawFn, config: Config) -> Config:
    """A deep copy of `config` with one or two mutations applied."""
    config = copy.deepcopy(config)
    for _ in range(draw(st.integers(1, 2))):
        if not paths(config):
            break
        MUTATIONS[draw(st.sampled_from(sorted(MUTATIONS)))](draw, config)
    return config


# ---- the checks ---------------------------------------------------------------------------


def loaded(path: Path, overrides: tuple[str, ...] = (), *, keyless: bool = False) -> Config | None:
    """load_config(path, overrides), or None after a one-line ConfigError that names its key
    path (or the override it comes from; or, if `keyless`, at least a line of the file). Any
    other exception fails the test."""
    try:
        return load_config(path, overrides)
    except ConfigError as err:
        text = str(err)
        assert "\n" not in text, text
        assert text.startswith((f"{path}:", "--set ")), text
        located = err.key or text.startswith("--set ") or keyless and err.where != str(path)
        assert located, f"names no key path: {text}"
        assert render_key(err.key) in text, text
        return None


def written(folder: Path, config: Config | str) -> Path:
    path = folder / "config.yaml"
    path.write_text(config if isinstance(config, str) else dump_config(config), encoding="utf-8")
    return path


@functools.cache
def shipped(path: Path) -> Config:
    """A shipped config as load_config resolves it: every key spelled out, 1e-3 a float.
    Cached: callers copy it before changing anything."""
    return load_config(path)


def edited(config: Config, key: Key, value: Any) -> Config:
    """A deep copy of `config` with the entry at `key` set to `value`."""
    config = copy.deepcopy(config)
    at(config, key[:-1])[key[-1]] = value
    return config


MLP, MOONS = CONFIGS / "mlp.yaml", CONFIGS / "moons_mlp.yaml"
LAYER_NORM_AFTER_CONV = {  # samples (2, 4) -> conv1d -> (5, 3): layer_norm normalizes 3 values
    "data": {"name": "blobs", "n_samples": 12, "n_features": 8, "shape": [2, 4]},
    "model": {
        "layers": [
            {"type": "conv1d", "out_channels": 5, "kernel_size": 2},
            {"type": "layer_norm"},
            {"type": "flatten"},
            {"type": "affine", "out_dim": 3},
        ]
    },
    "optim": {"type": "sgd", "lr": 0.1},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("configs")


@MORE
@given(drawn=configs())
@example(drawn=(LAYER_NORM_AFTER_CONV, 3))  # num_features inferred from the channels
def test_configs_drawn_from_the_schema_build_and_score_finitely(
    folder: Path, drawn: tuple[Config, int]
) -> None:
    config, n_out = drawn
    resolved = load_config(written(folder, config))
    assert resolved == resolve_config(config)  # the YAML round trip loses nothing
    experiment = build(resolved)
    X, y = experiment.splits.train
    scores = experiment.model.predict(X)
    assert scores.shape == (len(X), n_out)
    assert scores.dtype == np.dtype(resolved["dtype"])
    assert np.all(np.isfinite(scores)), scores
    assert math.isfinite(experiment.loss.forward(scores, y))


@MORE
@given(config=configs().flatmap(lambda drawn: mutated(drawn[0])))
def test_corrupted_drawn_configs_build_or_fail_with_a_config_error(
    folder: Path, config: Config
) -> None:
    loaded(written(folder, config))


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(path, id=path.name, marks=[pytest.mark.extra(EXTRA_OF_DATASET[dataset])])
        for path, dataset in TRAINING.items()
        if dataset in EXTRA_OF_DATASET
    ],
)
def test_shipped_configs_of_an_extra_are_sampled_when_it_is_installed(path: Path) -> None:
    assert path in SHIPPED


@SHIPPED_EACH
@given(config=st.sampled_from(SHIPPED).map(shipped).flatmap(mutated))
@example(config=edited(shipped(MLP), ("\n",), None))  # a newline in the message
@example(config=edited(shipped(MOONS), ("data", "n_samples"), 10**30))  # OverflowError
@example(config=edited(shipped(MLP), ("model", "layers", 0, "out_dim"), 2**58))  # MemoryError
def test_mutated_shipped_configs_build_or_fail_with_a_config_error(
    folder: Path, config: Config
) -> None:
    loaded(written(folder, config))


@st.composite
def overrides(draw: st.DrawFn, config: Config) -> tuple[str, ...]:
    """One to three KEY=VALUE items: a key path of `config` (or a known name under one), a
    value of any kind, malformed YAML and a python tag included."""
    keys = [k for k in paths(config) if all(isinstance(p, int) or p.isidentifier() for p in k)]
    items = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(keys))
        if isinstance(at(config, key), dict) and draw(st.booleans()):
            key = (*key, draw(st.sampled_from(OPTION_NAMES)))
        value = draw(
            WEIRD | st.sampled_from(["[1, 2", "{a: 1", "!!python/object/apply:os.system [ls]"])
        )
        text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
        items.append(f"{render_key(key)}={text.removesuffix(END).strip()}")
    return tuple(items)


@SHIPPED_EACH
@given(
    case=st.sampled_from(SHIPPED).flatmap(
        lambda path: st.tuples(st.just(path), overrides(shipped(path)))
    )
)
@example(case=(MLP, ("seed=\x1b",)))  # yaml's ReaderError
@example(case=(MLP, ("seed=a\nb",)))  # a newline in the message
def test_random_overrides_build_or_fail_with_a_config_error(
    case: tuple[Path, tuple[str, ...]],
) -> None:
    loaded(*case)


YAML_SYNTAX = ":-{}[]#&*!|>'\"%@`,?\t\n "


@st.composite
def typos(draw: st.DrawFn) -> str:
    """A shipped config's text with one character inserted, deleted or replaced."""
    text = draw(st.sampled_from(SHIPPED)).read_text(encoding="utf-8")
    i = draw(st.integers(0, len(text) - 1))
    char = draw(st.characters(codec="utf-8") | st.sampled_from(list(YAML_SYNTAX)))
    return text[:i] + draw(st.sampled_from([char, "", char + text[i]])) + text[i + 1 :]


@SHIPPED_EACH
@given(text=typos())
@example(text="\x1b" + MLP.read_text(encoding="utf-8"))  # yaml's ReaderError
def test_typed_config_text_builds_or_fails_with_a_config_error(folder: Path, text: str) -> None:
    loaded(written(folder, text), keyless=True)
