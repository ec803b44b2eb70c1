"""scripts/sanity.py: the report of configs/mlp.yaml, exit 1 when a check fails on purpose,
exit 2 with one line for a mistake in the command or config."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "configs" / "mlp.yaml")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sanity_script", ROOT / "scripts" / "sanity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sanity_script = _load_script()


def test_mlp_yaml_passes_and_prints_a_verdict_per_check() -> None:
    command = [sys.executable, str(ROOT / "scripts" / "sanity.py"), "--config", "configs/mlp.yaml"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[:2] == ["sanity checks of configs/mlp.yaml", "check           verdict  result"]
    assert re.match(r"initial loss    (PASS|WARN) +[\d.]+ vs ln 3 = 1\.099 expected", lines[2])
    assert re.match(r"overfit 20      PASS     100% train accuracy \(20/20", lines[3])
    assert re.match(r"gradient check  PASS     max rel error \S+ <= 1e-07 on all 603", lines[4])
    assert re.fullmatch(r"sanity checks passed \(\d PASS(, 1 WARN)?\)", lines[-1])


def test_wrong_init_exits_1_with_the_initial_loss_flagged(capsys: pytest.CaptureFixture) -> None:
    overrides = [
        arg
        for i in (0, 2)
        for key in ("init=normal", "init_scale=10")
        for arg in ("--set", f"model.layers[{i}].{key}")
    ]
    assert sanity_script.main(["--config", MLP, *overrides, "--steps", "5"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^initial loss    FAIL     [\d.]+ vs ln 3 = 1\.099 expected \(", out, re.M)
    assert "initial loss: far above chance at init: weights initialized too large" in out
    assert out.splitlines()[-1].startswith("sanity checks FAILED (")


def test_a_learning_rate_of_zero_exits_1_as_it_cannot_overfit(
    capsys: pytest.CaptureFixture,
) -> None:
    args = ["--config", MLP, "--set", "optim.lr=0", "--steps", "30", "--burn-in", "0"]
    assert sanity_script.main(args) == 1
    out = capsys.readouterr().out
    assert re.search(r"^overfit 20      FAIL     only 15% train accuracy \(3/20, ", out, re.M)
    assert "after 30 steps (sgd, lr 0, weight decay off)" in out
    assert "overfit 20: a model that cannot overfit a few samples has a bug" in out


def test_fewer_examples_and_steps_are_options(capsys: pytest.CaptureFixture) -> None:
    assert sanity_script.main(["--config", MLP, "--examples", "6", "--burn-in", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^overfit 6 +PASS +100% train accuracy \(6/6, ", out, re.M)
    assert ", 4 examples, after 2 steps; " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: --config"),
        (["--config", MLP, "--steps", "0"], "--examples and --steps must be >= 1"),
        (["--config", MLP, "--burn-in", "-1"], "--burn-in >= 0, got 20, 200, -1"),
    ],
)
def test_usage_mistakes_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stop:
        sanity_script.main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_bad_config_exits_2_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert sanity_script.main(["--config", str(tmp_path / "none.yaml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err
        == f"error: {tmp_path / 'none.yaml'}: cannot read the config: No such file or directory\n"
    )
    assert sanity_script.main(["--config", MLP, "--set", "model.layers[0].type=afine"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set model.layers[0].type=afine: model.layers[0].type: unknown")
    assert err.count("\n") == 1


def _train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--config", MLP, "--quiet"]
    command += ["--out", str(tmp_path / "run"), "--set", "schedule=null", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_train_sanity_stops_before_training_when_a_check_fails(tmp_path: Path) -> None:
    done = _train(tmp_path, "--sanity", "--set", "optim.lr=0", "--set", "train.epochs=2")
    assert done.returncode == 1
    assert "overfit 20      FAIL" in done.stdout
    assert done.stderr == "error: a sanity check failed: training not started\n"
    assert not (tmp_path / "run").exists()


def test_train_sanity_passes_then_trains(tmp_path: Path) -> None:
    done = _train(tmp_path, "--sanity", "--set", "train.epochs=2")
    assert done.returncode == 0, done.stderr
    assert "sanity checks passed" in done.stdout
    assert (tmp_path / "run" / "summary.json").is_file()


def test_train_diagnostics_add_update_ratios_and_dead_relus_to_the_metrics(tmp_path: Path) -> None:
    import json

    done = _train(tmp_path, "--set", "train.epochs=2", "--set", "train.diagnostics=true")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert len(rows) == 2
    for row in rows:
        assert 1e-5 < row["update_ratio.affine0.W"] < 1.0
        assert 0.0 <= row["dead_relu.relu0"] <= 1.0
