"""The README's path for a layer of your own, as a user walks it: mine/swish.py and swish.yaml
copied from the README, then gradcheck, train, evaluate, resume, plot, graph and sanity, each
a real process, the later ones from another folder than the one the config is in."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def readme_block(first_line: str) -> str:
    """The README code block whose first line is `first_line`."""
    blocks = re.findall(r"```\w*\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    found = [b for b in blocks if b.startswith(first_line + "\n")]
    assert len(found) == 1, f"the README shows {len(found)} blocks starting {first_line!r}"
    return found[0]


def run(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPTS / script), *map(str, args)]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (script, done.stdout, done.stderr)
    return done


def test_a_layer_of_your_own_goes_from_its_file_to_a_resumed_run(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "mine").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "mine" / "swish.py").write_text(readme_block("# mine/swish.py"))
    (project / "swish.yaml").write_text(readme_block("# swish.yaml"))

    checked = run("gradcheck.py", "mine/swish.py:Swish", cwd=project)
    assert "gradcheck of Swish: ok" in checked.stdout
    run("train.py", "--config", "swish.yaml", "--out", "runs/swish", "--quiet",
        "--set", "train.epochs=3", cwd=project)  # fmt: skip
    folder = project / "runs" / "swish"
    assert (
        (folder / "config.yaml")
        .read_text()
        .startswith(f"imports:\n- {project / 'mine' / 'swish.py'}\n")
    )
    evaluated = run("evaluate.py", "--run", folder, cwd=elsewhere)
    assert re.search(r"loss \d\.\d+, accuracy \d\.\d+", evaluated.stdout)
    run("train.py", "--resume", folder, "--quiet", "--set", "train.epochs=5", cwd=elsewhere)
    rows = (folder / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["epoch"] for row in rows] == [1, 2, 3, 4, 5]
    drawn = run("graph.py", "--config", folder / "config.yaml", "--structure", cwd=elsewhere)
    assert "swish" in drawn.stdout
    run("sanity.py", "--config", folder / "config.yaml", "--steps", "50", cwd=elsewhere)
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("plot.py needs matplotlib (the [plot] extra); every other step passed")
    run("plot.py", "--run", folder, cwd=elsewhere)
    assert (folder / "curves.png").stat().st_size > 0


def test_reading_the_checkpoint_alone_imports_nothing(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "swish.py").write_text(readme_block("# mine/swish.py"))
    (tmp_path / "swish.yaml").write_text(readme_block("# swish.yaml"))
    run("train.py", "--config", "swish.yaml", "--out", "run", "--quiet", "--set", "train.epochs=1",
        cwd=tmp_path)  # fmt: skip
    code = (
        "import sys; from gategraph.saving.checkpoint import load_checkpoint\n"
        "checkpoint = load_checkpoint('run/checkpoints/last.npz')\n"
        "print(checkpoint.config['imports'], 'swish' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == f"[{str(tmp_path / 'mine' / 'swish.py')!r}] False\n", done.stderr
