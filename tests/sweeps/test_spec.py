"""Sweep configs: parsing, trial configs through the `--set` machinery, and one-line errors."""

from collections.abc import Callable
from pathlib import Path

import pytest

from gategraph.experiments.config import ConfigError, load_config
from gategraph.sweeps.spec import Dimension, load_sweep

ROOT = Path(__file__).parents[2]
LR = "  optim.lr: {log_uniform: [1e-3, 1.0]}\n"


def test_the_shipped_sweep_searches_mlp_yaml() -> None:
    sweep = load_sweep(ROOT / "configs" / "spiral_sweep.yaml")
    assert sweep.name == "spiral_sweep"
    assert (sweep.metric, sweep.direction, sweep.trials) == ("val_acc", "maximize", 30)
    assert sweep.sampler == {"type": "tpe", "seed": 0, "startup_trials": 10}
    assert sweep.pruner == {"type": "median", "startup_trials": 5, "warmup_epochs": 20}
    mlp = load_config(ROOT / "configs" / "mlp.yaml", ["train.checkpoint_every_epochs=10"])
    assert sweep.base == mlp
    assert sweep.space == (
        Dimension("optim.lr", "log_uniform", (1e-3, 1.0)),
        Dimension("optim.weight_decay", "log_uniform", (1e-6, 1e-2)),
        Dimension("model.layers[0].out_dim", "choice", (50, 100, 200)),
    )


def test_a_trial_config_is_the_base_with_its_params_set(write_sweep: Callable) -> None:
    sweep = load_sweep(write_sweep("base: base.yaml\ntrials: 3\nspace:\n" + LR))
    config = sweep.trial_config({"optim.lr": 1e-05, "model.layers[0].out_dim": 7})
    assert config["optim"]["lr"] == 1e-05 and isinstance(config["optim"]["lr"], float)
    assert config["model"]["layers"][0]["out_dim"] == 7
    assert config["optim"]["momentum"] == 0.9  # the rest is the base's
    with pytest.raises(ConfigError, match=r"^--set optim\.lr=-1: optim\.lr: must be a number"):
        sweep.trial_config({"optim.lr": -1})


def test_defaults_and_the_direction_follow_the_metric(write_sweep: Callable) -> None:
    path = write_sweep("base: base.yaml\nmetric: val_loss\ntrials: 2\nspace:\n" + LR)
    sweep = load_sweep(path, trials=5)
    assert (sweep.name, sweep.direction, sweep.trials) == ("sweep", "minimize", 5)
    assert sweep.sampler == {"type": "tpe", "seed": 0, "startup_trials": 10}
    assert sweep.pruner == {"type": "median", "startup_trials": 5, "warmup_epochs": 10}
    assert sweep.heartbeat == {"interval": 10, "grace_period": 60}


def test_a_grid_runs_every_combination_once(write_sweep: Callable) -> None:
    path = write_sweep(
        "base: base.yaml\nsampler: grid\nspace:\n"
        "  optim.lr: {choice: [0.1, 0.2]}\n  model.layers[0].out_dim: {choice: [4, 8, 16]}\n"
    )
    sweep = load_sweep(path)
    assert sweep.trials == 6
    assert [tuple(p.values()) for p in sweep.grid()] == [
        (0.1, 4), (0.1, 8), (0.1, 16), (0.2, 4), (0.2, 8), (0.2, 16)
    ]  # fmt: skip


BAD = [
    (
        "base: base.yaml\ntrials: 3\nspace:\n  optim.lrr: {log_uniform: [1e-3, 1.0]}\n",
        "sweep.yaml:4: space.optim.lrr: the base config has no key optim.lrr; "
        "did you mean optim.lr?",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  optim: {choice: [1, 2]}\n",
        "sweep.yaml:4: space.optim: is a section of the base config, not a value: search one "
        "of its keys, like optim.type",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  optim.lr: {loguniform: [1e-3, 1.0]}\n",
        "sweep.yaml:4: space.optim.lr: must be one of {choice: [a, b, ...]}, {uniform: [low, "
        "high]}, {log_uniform: [low, high]}, {int: [low, high]}, {log_int: [low, high]}, "
        "got {loguniform: [0.001, 1.0]}",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  optim.lr: {uniform: [0.5, 0.1]}\n",
        "sweep.yaml:4: space.optim.lr.uniform: must be [low, high], two numbers with "
        "low < high, got [0.5, 0.1]",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  optim.lr: {log_uniform: [0, 0.1]}\n",
        "sweep.yaml:4: space.optim.lr.log_uniform: a log range needs low > 0, got [0, 0.1]",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  model.layers[0].out_dim: {int: [4.5, 8]}\n",
        "sweep.yaml:4: space.model.layers[0].out_dim.int: must be [low, high], two integers "
        "with low < high, got [4.5, 8]",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  model.layers[0].out_dim: {choice: [8, -1]}\n",
        "sweep.yaml:4: space.model.layers[0].out_dim.choice: -1 does not fit the base config: "
        "must be a positive integer, got -1",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace:\n  model.layers[0].out_dim: {choice: [8, 8]}\n",
        "sweep.yaml:4: space.model.layers[0].out_dim.choice: lists 8 twice",
    ),
    (
        "base: base.yaml\nsampler: grid\nspace:\n  model.layers[0].out_dim: {choice: [8, 16]}\n"
        + LR,
        "sweep.yaml:5: space.optim.lr: a grid sweep takes only {choice: [...]} dimensions, "
        "got log_uniform",
    ),
    (
        "base: base.yaml\nsampler: grid\ntrials: 3\nspace:\n"
        "  model.layers[0].out_dim: {choice: [8, 16]}\n",
        "sweep.yaml:3: trials: a grid of 2 points runs each once: leave trials out, or set it "
        "to 2, got 3",
    ),
    (
        "base: base.yaml\nspace:\n" + LR,
        "sweep.yaml:1: trials: required key missing; how many trials to run",
    ),
    (
        "base: base.yaml\ntrails: 3\nspace:\n" + LR,
        "sweep.yaml:2: trails: unknown key; did you mean 'trials'?",
    ),
    (
        "base: base.yaml\ntrials: 3\nsampler: {type: cmaes}\nspace:\n" + LR,
        "sweep.yaml:3: sampler.type: must be one of tpe, random, grid, got 'cmaes'",
    ),
    (
        "base: base.yaml\ntrials: 3\npruner: {type: median, warmup: 3}\nspace:\n" + LR,
        "sweep.yaml:3: pruner.warmup: unknown key; pruner 'median' takes: type, "
        "startup_trials, warmup_epochs",
    ),
    (
        "base: base.yaml\ntrials: 3\nheartbeat: {interval: 10, grace_period: 5}\nspace:\n" + LR,
        "sweep.yaml:3: heartbeat.grace_period: must be longer than heartbeat.interval (10 s), "
        "or live workers are taken for dead, got 5",
    ),
    (
        "base: base.yaml\ntrials: 3\nset:\n  train.epochs: 0\nspace:\n" + LR,
        "sweep.yaml:4: set.train.epochs: must be a positive integer, got 0",
    ),
    (
        "base: base.yaml\ntrials: 3\nset:\n  train.epoch: 3\nspace:\n" + LR,
        "sweep.yaml:4: set.train.epoch: unknown key; did you mean 'epochs'?",
    ),
    (
        "base: base.yaml\ntrials: 3\nset: {data.val_fraction: 0.0}\nspace:\n" + LR,
        "sweep.yaml:1: metric: val_acc needs a validation split: set data.val_fraction > 0 in "
        "the base config",
    ),
    (
        "base: nothere.yaml\ntrials: 3\nspace:\n" + LR,
        "sweep.yaml:1: base: no training config at {dir}/nothere.yaml",
    ),
    (
        "base: base.yaml\nname: a b\ntrials: 3\nspace:\n" + LR,
        "sweep.yaml:2: name: must be a name of letters, digits, _ . -, got 'a b'",
    ),
    (
        "base: base.yaml\ntrials: 3\nspace: {}\n",
        "sweep.yaml:3: space: must map dotted keys of the base config to ranges, like "
        "optim.lr: {log_uniform: [1e-4, 1e-1]}, got {}",
    ),
    (
        "",
        "sweep.yaml:1: a sweep config is a mapping with keys base, name, metric, direction, "
        "trials, sampler, pruner, heartbeat, set, space, got nothing",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(": ")[1] for _, m in BAD])
def test_a_bad_sweep_config_fails_in_one_line(
    write_sweep: Callable, text: str, message: str
) -> None:
    path = write_sweep(text)
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    assert str(caught.value) == f"{path.parent}/" + message.replace("{dir}", str(path.parent))


def test_trials_from_the_command_line_are_checked_too(write_sweep: Callable) -> None:
    path = write_sweep(
        "base: base.yaml\nsampler: grid\nspace:\n  model.layers[0].out_dim: {choice: [8, 16]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_sweep(path, trials=5)
    expected = "--trials 5: a grid of 2 points runs each once: leave trials out, or set it to 2"
    assert str(caught.value) == f"{expected}, got 5"


def test_an_error_in_the_base_config_names_the_base_file(write_sweep: Callable) -> None:
    path = write_sweep("base: base.yaml\ntrials: 3\nspace:\n" + LR)
    (path.parent / "base.yaml").write_text("seed: 0\ndata: {name: spiral}\noptim: {lr: 1}\n")
    with pytest.raises(ConfigError, match=r"base\.yaml:\d+: "):
        load_sweep(path)
