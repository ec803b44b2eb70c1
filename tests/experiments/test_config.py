"""Config loading: exact error text (file:line: key: reason), safe YAML, overrides, defaults."""

from pathlib import Path

import pytest

from gategraph.experiments.build import load_experiment
from gategraph.experiments.config import (
    ConfigError,
    apply_overrides,
    dump_config,
    load_config,
    parse_yaml,
    render_key,
    resolve_config,
    sections,
)

BASE = """\
seed: 0
data: {name: spiral, n_per_class: 20, classes: 3}
model:
  layers:
    - {type: affine, out_dim: 16}
    - {type: relu}
    - {type: affine, out_dim: 3}
optim: {type: sgd, lr: 0.1, momentum: 0.9, weight_decay: 1e-3}
schedule: {type: cosine, warmup_epochs: 2}
train: {epochs: 10, batch_size: 16, early_stopping: {monitor: val_loss, patience: 3}}
"""

GRAPH = """\
seed: 0
data: {name: moons, n_samples: 40}
model:
  graph:
    - {name: out, type: affine, inputs: [sum], out_dim: 2}
    - {name: h, type: affine, inputs: [x], out_dim: 8}
    - {name: sum, type: add, inputs: [h, r]}
    - {name: r, type: relu, inputs: [h]}
  output: out
optim: {type: sgd, lr: 0.1}
"""


def write(tmp_path: Path, text: str, name: str = "mlp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_experiment(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}:")


CATALOGUE = [
    # (change to BASE: old, new), expected message after "path:"
    (
        ("{type: affine, out_dim: 3}", "{type: affine, out_dim: -5}"),
        "7: model.layers[2].out_dim: must be a positive integer, got -5",
    ),
    (("seed: 0", "sede: 0"), "1: sede: unknown key; did you mean 'seed'?"),
    (
        ("{type: relu}", "{type: rleu}"),
        "6: model.layers[1].type: unknown layer 'rleu' (did you mean 'relu'?); valid: ",
    ),
    (
        ("{type: affine, out_dim: 16}", "{type: affine, out_dims: 16}"),
        "5: model.layers[0].out_dims: unknown key; did you mean 'out_dim'?",
    ),
    (
        ("{type: relu}", "{type: relu, slope: 2}"),
        "6: model.layers[1].slope: unknown key; layer 'relu' takes: type",
    ),
    (("lr: 0.1", "lr: fast"), "8: optim.lr: must be a number >= 0, got 'fast'"),
    (("lr: 0.1", "lr: -0.1"), "8: optim.lr: must be a number >= 0, got -0.1"),
    (("lr: 0.1,", "lrr: 0.1,"), "8: optim.lrr: unknown key; did you mean 'lr'?"),
    (("momentum: 0.9", "momentum: 1.5"), "8: optim.momentum: must be a number in [0, 1], got 1.5"),
    (("epochs: 10", "epochs: true"), "10: train.epochs: must be a positive integer, got true"),
    (
        ("batch_size: 16", "batch_size: 0"),
        "10: train.batch_size: must be a positive integer, got 0",
    ),
    (
        ("classes: 3}", "classes: 3, val_fraction: 1.0}"),
        "2: data.val_fraction: must be a number in [0, 1), got 1.0",
    ),
    (
        ("classes: 3}", "classes: 3, val_fraction: 0.5, test_fraction: 0.5}"),
        "2: data.test_fraction: val_fraction + test_fraction must be < 1 to leave training data, "
        "got 0.5 + 0.5",
    ),
    (
        ("name: spiral", "name: spirall"),
        "2: data.name: unknown dataset 'spirall' (did you mean 'spiral'?); valid: ",
    ),
    (("classes: 3}", "classes: 3, noise: -1}"), "2: data: spiral needs noise >= 0, got -1.0"),
    (
        ("n_per_class: 20", "n_per_class: twenty"),
        "2: data.n_per_class: must be an integer, got 'twenty'",
    ),
    (
        ("type: sgd", "type: sgdd"),
        "8: optim.type: unknown optimizer 'sgdd' (did you mean 'sgd'?); valid: ",
    ),
    (
        ("type: cosine", "type: cosin"),
        "9: schedule.type: unknown schedule 'cosin' (did you mean 'cosine'?); valid: ",
    ),
    (
        ("monitor: val_loss", "monitor: val_los"),
        "10: train.early_stopping.monitor: must be one of val_loss, val_acc, train_loss, "
        "train_acc, got 'val_los'",
    ),
    (
        ("    - {type: affine, out_dim: 16}\n", "    - {type: affine}\n"),
        "5: model.layers[0]: layer 'affine' needs option 'out_dim'",
    ),
    (
        ("{type: affine, out_dim: 16}", "{type: affine, in_dim: 5, out_dim: 16}"),
        "5: model.layers[0].in_dim: is 5, but the samples reaching this layer have shape (2,), "
        "which gives 2",
    ),
    (
        ("{type: affine, out_dim: 3}", "{type: affine, out_dim: 2}"),
        "7: model.layers[2]: outputs samples of shape (2,), which do not fit the data's 3 classes: "
        "SoftmaxCrossEntropy expects class ids in [0, 2), got 2",
    ),
    (
        ("{type: affine, out_dim: 16}", "{type: affine, out_dim: 16, init: hee}"),
        "5: model.layers[0]: unknown initializer 'hee' (did you mean 'he'?); valid: ",
    ),
    (
        ("momentum: 0.9", "momentum: 0.0, nesterov: true"),
        "8: optim: SGD needs momentum > 0 for nesterov, got momentum 0",
    ),
    (
        ("warmup_epochs: 2", "warmup_epochs: 20"),
        "9: schedule: CosineAnnealing needs 0 <= warmup_epochs <= 9, got 20",
    ),
    (
        ("classes: 3}", "classes: 3, val_fraction: 0.0}"),
        "10: train.early_stopping.monitor: val_loss needs a validation split: set "
        "data.val_fraction > 0",
    ),
    (
        ("train: {", "dtype: float16\ntrain: {"),
        "10: dtype: must be one of float32, float64, got 'float16'",
    ),
    (("optim: {type: sgd, ", "optim: {"), "8: optim.type: required key missing; one of "),
    (("seed: 0\n", "seed: 0\nseed: 1\n"), "2: seed: duplicate key (first at line 1)"),
]


@pytest.mark.parametrize(("change", "expected"), CATALOGUE, ids=[c[1][:40] for c in CATALOGUE])
def test_error_names_file_line_key_and_reason(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in BASE
    message = error(write(tmp_path, BASE.replace(*change, 1)))
    if expected.endswith("valid: ") or expected.endswith("one of "):
        assert message.startswith(expected)
    else:
        assert message == expected


def test_malformed_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 0\ndata: [1, 2\nmodel: 3\n")
    assert error(path) == "3:6: invalid YAML: expected ',' or ']', but got ':'"


def test_python_tag_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = BASE.replace("seed: 0", f"seed: !!python/object/apply:os.system ['touch {marker}']")
    message = error(write(tmp_path, text))
    assert message == (
        "1:7: tag '!!python/object/apply:os.system' is not allowed: a config holds plain data "
        "(mappings, lists, strings, numbers, true/false, null)"
    )
    with pytest.raises(ConfigError, match="is not allowed"):
        load_experiment(
            write(tmp_path, BASE, "ok.yaml"),
            [f"seed=!!python/object/apply:os.system ['touch {marker}']"],
        )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "",
            "1: the config is empty; expected a mapping with keys imports, seed, dtype, data, "
            "model, optim, schedule, train",
        ),
        (
            "- 1\n- 2\n",
            "1: a config is a mapping with keys imports, seed, dtype, data, model, optim, "
            "schedule, train, got [1, 2]",
        ),
        ("seed: 0\n", "1: data: required key missing"),
        (
            "seed: 0\ndata: {name: spiral}\nmodel: {}\noptim: {type: sgd, lr: 1}\n",
            "3: model: needs exactly one of 'layers' (a chain) or 'graph' (a DAG of named nodes)",
        ),
        ("a: &x [*x]\n", "1: a[0]: an alias expands without end"),
        (
            "seed: 2024-01-01\n",
            "1:7: tag '!!timestamp' is not allowed: a config holds plain "
            "data (mappings, lists, strings, numbers, true/false, null)",
        ),
    ],
)
def test_whole_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert error(write(tmp_path, text)) == expected


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error(path) == " cannot read the config: No such file or directory"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("inputs: [h, r]", "inputs: [h, out]"),
            "4: model.graph: the nodes form a cycle, sum -> out -> sum: a graph must be acyclic",
        ),
        (
            ("inputs: [h, r]", "inputs: [h, rr]"),
            "7: model.graph[2].inputs[1]: unknown node 'rr' (did you mean 'r'?); nodes: x, out, h, "
            "sum, r",
        ),
        (
            ("inputs: [h, r]", "inputs: [h]"),
            "7: model.graph[2].inputs: layer 'add' takes 2 input(s), got 1",
        ),
        (("name: r,", "name: h,"), "8: model.graph[3].name: 'h' already names a node"),
        (("name: r,", "name: x,"), "8: model.graph[3].name: 'x' already names the data input"),
        (
            ("output: out", "output: h"),
            "5: model.graph[0]: node 'out' does not lead to the output 'h': remove it, or make it "
            "the output",
        ),
        (
            ("output: out", "output: ou"),
            "9: model.output: unknown node 'ou' (did you mean 'out'?); nodes: out, h, sum, r",
        ),
        (
            (
                "{name: r, type: relu, inputs: [h]}",
                "{name: r, type: affine, inputs: [h], out_dim: 4}",
            ),
            "7: model.graph[2]: cannot take samples of shape (8,), (4,): Add cannot broadcast "
            "x (1, 8) with y (1, 4)",
        ),
    ],
)
def test_graph_errors(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in GRAPH
    assert error(write(tmp_path, GRAPH.replace(*change))) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optim.lrr=0.05"], "--set optim.lrr=0.05: optim.lrr: unknown key; did you mean 'lr'?"),
        (
            ["model.layers[3].out_dim=64"],
            "--set model.layers[3].out_dim=64: model.layers[3]: index out of range: model.layers "
            "has 3 items",
        ),
        (["optim.lr=-1"], "--set optim.lr=-1: optim.lr: must be a number >= 0, got -1"),
        (
            ["optim.lr"],
            "--set optim.lr: expected KEY=VALUE with a key path like optim.lr or "
            "model.layers[0].out_dim",
        ),
        (
            ["optim..lr=1"],
            "--set optim..lr=1: expected KEY=VALUE with a key path like optim.lr "
            "or model.layers[0].out_dim",
        ),
        (
            ["optim.lr=[1"],
            "--set optim.lr=[1: invalid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        (["seed.x=1"], "--set seed.x=1: seed: is 0, not a mapping"),
        (
            ["model.layers.type=relu"],
            "--set model.layers.type=relu: model.layers: is "
            "[{type: affine, out_dim: 16}, {type: relu}, {type: affine..., not a mapping",
        ),
        (["seed[0]=1"], "--set seed[0]=1: seed: is 0, not a list to index with [0]"),
        (
            ["schedule=null", "schedule.warmup_epochs=3"],
            "--set schedule.warmup_epochs=3: schedule.type: required key missing; one of cosine, "
            "exponential, reduce_on_plateau, step",
        ),
        (
            ["optim.momentum=0", "optim.nesterov=true"],
            "8: optim: SGD needs momentum > 0 for nesterov, got momentum 0",
        ),
        (
            ["model.layers[0]={type: afine}"],
            "--set model.layers[0]={type: afine}: model.layers[0].type: unknown layer 'afine' "
            "(did you mean 'affine'?); valid: ",
        ),
    ],
)
def test_override_errors_name_the_override(
    tmp_path: Path, overrides: list[str], expected: str
) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError) as info:
        load_experiment(path, overrides)
    message = str(info.value).removeprefix(f"{path}:")
    if expected.endswith("valid: ") or expected.endswith("one of "):
        assert message.startswith(expected)
    else:
        assert message == expected


def test_exponent_floats_are_floats(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), ["optim.lr=5E-2", "train.clip_norm=1e1"])
    assert config["optim"]["weight_decay"] == 0.001
    assert config["optim"]["lr"] == 0.05
    assert config["train"]["clip_norm"] == 10.0
    assert all(type(v) is float for v in (config["optim"]["weight_decay"], config["optim"]["lr"]))


def test_overrides_apply(tmp_path: Path) -> None:
    overrides = [
        "optim.lr=0.05",
        "model.layers[0].out_dim=64",
        "train.early_stopping.patience=5",
        "schedule=null",
        "data.n_per_class=30",
    ]
    config = load_config(write(tmp_path, BASE), overrides)
    assert config["optim"]["lr"] == 0.05
    assert config["model"]["layers"][0]["out_dim"] == 64
    assert config["train"]["early_stopping"] == {
        "monitor": "val_loss",
        "patience": 5,
        "min_delta": 0.0,
    }
    assert config["schedule"] is None
    assert config["data"]["n_per_class"] == 30
    assert apply_overrides(config, ["optim.lr=0.2"])["optim"]["lr"] == 0.2
    assert config["optim"]["lr"] == 0.05  # the input is not modified


def test_override_makes_missing_sections(tmp_path: Path) -> None:
    text = BASE.replace("schedule: {type: cosine, warmup_epochs: 2}\n", "")
    config = load_config(write(tmp_path, text), ["schedule.type=step", "schedule.step_size=4"])
    assert config["schedule"] == {"type": "step", "step_size": 4, "gamma": 0.1}


def test_apply_overrides_errors_outside_overrides_have_no_file() -> None:
    config = resolve_config(
        {
            "data": {"name": "spiral"},
            "model": {"layers": [{"type": "affine", "out_dim": 3}]},
            "optim": {"type": "sgd", "lr": 0.1},
        }
    )
    with pytest.raises(ConfigError) as info:
        apply_overrides(config, ["optim.lrr=1"])
    assert str(info.value) == "--set optim.lrr=1: optim.lrr: unknown key; did you mean 'lr'?"
    config["seed"] = -1
    with pytest.raises(ConfigError) as info:
        apply_overrides(config, ["optim.lr=1"])
    assert str(info.value) == "seed: must be an integer >= 0, got -1"


def test_resolved_config_has_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert list(config) == ["seed", "dtype", "data", "model", "optim", "schedule", "train"]
    assert config["dtype"] == "float32"
    assert config["data"] == {
        "name": "spiral",
        "n_per_class": 20,
        "classes": 3,
        "noise": 0.2,
        "val_fraction": 0.2,
        "test_fraction": 0.0,
        "standardize": True,
        "shape": None,
    }
    assert config["model"]["layers"][0] == {
        "type": "affine",
        "out_dim": 16,
        "init": "he",
        "init_scale": 0.01,
    }
    assert config["model"]["layers"][1] == {"type": "relu"}
    assert config["model"]["loss"] == {"type": "softmax_cross_entropy"}
    assert config["optim"] == {
        "type": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.001,
    }
    assert config["schedule"] == {"type": "cosine", "min_lr": 0.0, "warmup_epochs": 2}
    assert config["train"] == {
        "epochs": 10,
        "batch_size": 16,
        "clip_norm": None,
        "early_stopping": {"monitor": "val_loss", "patience": 3, "min_delta": 0.0},
        "checkpoint_every_epochs": 1,
        "checkpoint_every_steps": None,
        "diagnostics": False,
    }


def test_tuple_defaults_become_lists_and_ints_become_floats(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), ["optim={type: adam, lr: 1}"])
    assert config["optim"] == {
        "type": "adam",
        "lr": 1.0,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert type(config["optim"]["lr"]) is float
    with pytest.raises(
        ConfigError,
        match=r"^--set optim=\{type: adam, betas: \[0.9, a\]\}: optim.betas: must be a list of "
        r"numbers, got \[0.9, a\]$",
    ):
        load_config(write(tmp_path, BASE), ["optim={type: adam, betas: [0.9, a]}"])


@pytest.mark.parametrize("text", [BASE, GRAPH])
def test_resolved_config_round_trips(tmp_path: Path, text: str) -> None:
    config = load_config(write(tmp_path, text))
    again = load_config(write(tmp_path, dump_config(config), "resolved.yaml"))
    assert again == config
    assert resolve_config(config) == config


def test_dump_quotes_strings_that_read_as_floats(tmp_path: Path) -> None:
    text = (
        GRAPH.replace("name: h,", "name: '1e3',")
        .replace("[h, r]", "['1e3', r]")
        .replace("inputs: [h]", "inputs: ['1e3']")
    )
    config = load_config(write(tmp_path, text))
    assert config["model"]["graph"][1]["name"] == "1e3"
    assert load_config(write(tmp_path, dump_config(config), "resolved.yaml")) == config


def test_aliases_are_copied_not_shared(tmp_path: Path) -> None:
    text = BASE.replace(
        "    - {type: affine, out_dim: 16}", "    - &hidden {type: affine, out_dim: 16}"
    )
    text = text.replace(
        "    - {type: relu}", "    - {type: relu}\n    - *hidden\n    - {type: relu}"
    )
    config = load_config(write(tmp_path, text), ["model.layers[0].out_dim=8"])
    assert [layer.get("out_dim") for layer in config["model"]["layers"]] == [8, None, 16, None, 3]
    assert "&" not in dump_config(config)


def test_graph_resolves_output_and_keeps_listed_order(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GRAPH))
    assert config["model"]["output"] == "out"
    assert [n["name"] for n in config["model"]["graph"]] == ["out", "h", "sum", "r"]
    assert config["model"]["graph"][2] == {"name": "sum", "type": "add", "inputs": ["h", "r"]}


def test_overrides_must_be_a_list_not_one_string(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="overrides must be a list of KEY=VALUE strings"):
        load_config(write(tmp_path, BASE), "optim.lr=1")  # type: ignore[arg-type]


UNACCEPTABLE = "invalid YAML: unacceptable character #x{:04x}: special characters are not allowed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b" + BASE, "1:1: " + UNACCEPTABLE.format(0x1B)),
        (BASE.replace("seed: 0", "seed: 0  # \x83"), "1:12: " + UNACCEPTABLE.format(0x83)),
        (BASE.replace("lr: 0.1", "lr: \x00"), "8:24: " + UNACCEPTABLE.format(0)),
        ("seed: 0\r\n\rdtype: \x7f", "3:8: " + UNACCEPTABLE.format(0x7F)),  # \r\n: one break
        ("a: 1\x85b: \x1b", "2:4: " + UNACCEPTABLE.format(0x1B)),  # \x85: a YAML line break
    ],
)
def test_control_character_gives_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    assert error(write(tmp_path, text)) == expected


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=\x1b", "--set seed=\\x1b: " + UNACCEPTABLE.format(0x1B)),
        ("seed=a\nb", "--set seed=a\\nb: seed: must be an integer >= 0, got 'a b'"),
        (
            "seed=[\x85",
            "--set seed=[\\x85: invalid YAML: expected the node content, but found '<stream end>'",
        ),
    ],
)
def test_override_with_control_characters_is_one_line(
    tmp_path: Path, override: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BASE), [override])
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("key", "rendered"),
    [
        (("model", "layers", 2, "out_dim"), "model.layers[2].out_dim"),
        (("data", "n-samples"), "data['n-samples']"),
        (("\n",), "['\\n']"),
        (("model", " layers", 0), "model[' layers'][0]"),
        (("data", "1"), "data['1']"),
        (("set", "model.layers[0].out_dim"), "set.model.layers[0].out_dim"),  # a sweep's keys
        ((), ""),
    ],
)
def test_render_key_shows_keys_that_are_not_words_as_python_does(
    key: tuple[str | int, ...], rendered: str
) -> None:
    assert render_key(key) == rendered


def test_key_with_a_line_break_is_named_on_one_line(tmp_path: Path) -> None:
    message = error(write(tmp_path, BASE + '"\\n": 1\n"out-dim": 2\n'))
    assert message == (
        "11: ['\\n']: unknown key; valid: imports, seed, dtype, data, model, optim, schedule, train"
    )


def test_config_error_is_one_line() -> None:
    err = ConfigError("first\nsecond\r\nthird\x1b", ("a\nb",), "--set a=\n")
    assert str(err) == "--set a=\\n: ['a\\nb']: first second third\\x1b"
    assert err.where == "--set a=\n"  # kept as given: locating compares it


@pytest.mark.parametrize("text", ["\x85y", "a\x85", "x\u2028y\u2029", "\x85\n\x85", "tab\tand\x1b"])
def test_dump_round_trips_strings_with_line_breaks(text: str) -> None:
    config = {"name": text, text: [text]}
    assert parse_yaml(dump_config(config), "dumped")[0] == config


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            "{name: moons, n_samples: 1000000000000000000000000000000}",
            "2: data.n_samples: asks for 1000000000000000000000000000000 samples × features; "
            "a dataset may have at most 100000000",
        ),
        (
            "{name: spiral, n_per_class: 50000000, classes: 3}",
            "2: data.n_per_class: asks for 150000000 samples × features (n_per_class 50000000 × "
            "classes 3); a dataset may have at most 100000000",
        ),
        (
            "{name: blobs, n_samples: 100000, centers: 3, n_features: 1001}",
            "2: data.n_samples: asks for 100100000 samples × features (n_samples 100000 × "
            "n_features 1001); a dataset may have at most 100000000",
        ),
    ],
)
def test_dataset_size_is_bounded_before_generating(
    tmp_path: Path, data: str, expected: str
) -> None:
    text = BASE.replace("{name: spiral, n_per_class: 20, classes: 3}", data)
    assert error(write(tmp_path, text)) == expected


def test_dataset_size_bound_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sections, "MAX_DATA", 60)
    config = {"data": {"name": "spiral", "n_per_class": 20, "classes": 3}}
    config |= {"model": {"layers": [{"type": "affine", "out_dim": 3}]}}
    config |= {"optim": {"type": "sgd", "lr": 0.1}}
    assert resolve_config(config)["data"]["n_per_class"] == 20
    config["data"]["n_per_class"] = 21
    with pytest.raises(ConfigError) as info:
        resolve_config(config)
    assert str(info.value) == (
        "data.n_per_class: asks for 63 samples × features (n_per_class 21 × classes 3); "
        "a dataset may have at most 60"
    )
