"""scripts/graph.py: the worked circuits (as committed in docs/), a config's model, PNG through
Graphviz's `dot` (a stand-in here) or a clear refusal without it, exit codes."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gategraph.drawing.draw import lecture_circuits, to_dot, to_mermaid

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("graph_script", ROOT / "scripts" / "graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


graph_script = _load_script()


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "graph.py"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_the_circuit_example_prints_mermaid_as_committed_in_docs() -> None:
    done = run("--example", "circuit")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == to_mermaid(lecture_circuits())
    committed = (ROOT / "docs" / "circuit.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", committed, re.S).group(1)
    assert block == done.stdout, "docs/circuit.md is stale: rerun scripts/graph.py"


def test_the_circuit_example_as_dot_is_committed_in_docs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "circuit.dot"
    assert graph_script.main(["--example", "circuit", "--format", "dot", "--out", str(out)]) == 0
    assert out.read_text() == to_dot(lecture_circuits())
    assert out.read_text() == (ROOT / "docs" / "circuit.dot").read_text(), "docs/ is stale"
    assert capsys.readouterr().out == ""


def test_a_config_is_drawn_with_its_loss_params_and_tensor_wires(
    capsys: pytest.CaptureFixture,
) -> None:
    assert graph_script.main(["--config", str(ROOT / "configs" / "mlp.yaml"), "--batch", "5"]) == 0
    text = capsys.readouterr().out
    for line in [
        '  n1[/"affine0.W<br/>(2, 100)"/]',
        '  n5[/"affine1.W<br/>(100, 3)"/]',
        '  n9["loss<br/>softmax_cross_entropy"]',
    ]:
        assert line + "\n" in text
    assert re.search(r'n3 -->\|"\(5, 100\) norm [\d.]+<br/>grad norm [\d.]+"\| n4', text)
    assert '|"(5,) int64"| n9' in text
    assert re.search(r'n9 -->\|"[\d.]+<br/>grad 1"\| n10', text)


def test_structure_only_and_overrides(capsys: pytest.CaptureFixture) -> None:
    args = ["--config", str(ROOT / "configs" / "mlp.yaml"), "--structure", "--format", "dot"]
    assert graph_script.main([*args, "--set", "model.layers[0].out_dim=7"]) == 0
    text = capsys.readouterr().out
    assert '  n1 [label="affine0.W\\n(2, 7)", shape=box, style="rounded,dashed"];' in text
    assert "label=<" not in text and "  n1 -> n3;\n" in text


def _fake_dot(folder: Path, script: str) -> dict[str, str]:
    dot = folder / "dot"
    dot.write_text(f"#!/bin/sh\n{script}\n")
    dot.chmod(0o755)
    return {**os.environ, "PATH": str(folder)}


def test_png_goes_through_dot(tmp_path: Path) -> None:
    # a stand-in `dot` that writes what it reads to the file after -o ($3)
    env = _fake_dot(tmp_path, 'test "$1 $2" = "-Tpng -o" && exec /bin/cat > "$3"')
    out = tmp_path / "circuit.png"
    done = run("--example", "circuit", "--format", "png", "--out", out, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert out.read_text() == to_dot(lecture_circuits())


def test_a_failing_dot_exits_1_with_its_message(tmp_path: Path) -> None:
    env = _fake_dot(tmp_path, 'echo "syntax error in line 1" >&2; exit 3')
    done = run("--example", "circuit", "--format", "png", "--out", tmp_path / "x.png", env=env)
    assert done.returncode == 1
    assert done.stderr == "error: dot failed: syntax error in line 1\n"


def test_png_without_graphviz_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(graph_script.shutil, "which", lambda name: None)
    out = tmp_path / "c.png"
    assert graph_script.main(["--example", "circuit", "--format", "png", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --format png needs Graphviz's `dot` program, which is not on")
    assert err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "one of the arguments --config --example is required"),
        (["--example", "circuit", "--format", "png"], "--format png needs --out FILE.png"),
        (["--example", "circuit", "--set", "a=1"], "--set and --structure go with --config"),
        (["--example", "loop"], "argument --example: invalid choice: 'loop'"),
        (["--example", "circuit", "--batch", "0"], "--batch and --precision must be >= 1"),
    ],
)
def test_usage_mistakes_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stop:
        graph_script.main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_bad_config_exits_2_with_the_key(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = graph_script.main(
        ["--config", str(ROOT / "configs" / "mlp.yaml"), "--set", "optim.lr=-1"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set optim.lr=-1: optim.lr: ") and err.count("\n") == 1
    code = graph_script.main(["--example", "circuit", "--out", str(tmp_path / "no" / "dir.md")])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"error: cannot write {tmp_path / 'no' / 'dir.md'}")


def test_the_trace_example_prints_the_lectures_three_tables() -> None:
    done = run("--example", "trace")
    assert (done.returncode, done.stderr) == (0, "")
    for row in [
        "| v3 | v0 × v1 | 10 |",
        "| v6 | v5 − v4 | 11.65 |",
        "| v̇3 | v̇0 × v1 + v0 × v̇1 | 5 |",
        "| v̇6 | v̇5 − v̇4 | 5.5 |",
        "| v̄4 | −v̄6 | -1 |",
        "| v̄1 | v̄4 × cos(v1) + v̄3 × v0 | 1.716 |",
        "| v̄0 | v̄3 × v1 + v̄2 / v0 | 5.5 |",
    ]:
        assert row + "\n" in done.stdout


def test_the_circuit_example_with_gradients_draws_the_adjoint_nodes() -> None:
    done = run("--example", "circuit", "--gradients", "--format", "dot")
    assert (done.returncode, done.stderr) == (0, "")
    assert '[label="df/dy\\nsum_like\\n= -4", shape=box, style=filled' in done.stdout
    refused = run("--example", "trace", "--gradients")
    assert refused.returncode == 2 and "--gradients goes with --example circuit" in refused.stderr
