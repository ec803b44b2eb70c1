"""The README's code is the shipped code: its gates are the source verbatim, its loop runs and
is the loop the benchmark times."""

import ast
import inspect
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gategraph.layers.affine import Affine
from gategraph.layers.relu import ReLU
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy

ROOT = Path(__file__).resolve().parents[1]
OMITTED = {"__init__", "example"}  # the README shows a gate's math, not its set-up


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _python_blocks(section: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def _shown(cls: type) -> str:
    """The class's source without the methods in OMITTED (decorators included)."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    (node,) = ast.parse(source).body
    for item in reversed(node.body):
        if isinstance(item, ast.FunctionDef) and item.name in OMITTED:
            first = min([item.lineno, *(d.lineno for d in item.decorator_list)]) - 1
            del lines[first : item.end_lineno]
            while first < len(lines) and first > 0 and not lines[first].strip():
                if lines[first - 1].strip():
                    break
                del lines[first]
    return "\n".join(lines).rstrip() + "\n"


@pytest.mark.parametrize("cls", [Affine, ReLU, SoftmaxCrossEntropy])
def test_the_readme_shows_each_textbook_gate_verbatim(cls: type) -> None:
    blocks = [b for b in _python_blocks(_section("A gate")) if f"class {cls.__name__}(" in b]
    assert len(blocks) == 1, f"README's 'A gate' section should show {cls.__name__} once"
    assert blocks[0] == _shown(cls)


def test_the_readme_loop_trains() -> None:
    (block,) = _python_blocks(_section("Your own training loop"))
    namespace: dict = {"print": lambda *args: None}
    exec(compile(block, "README.md", "exec"), namespace)
    predictions = namespace["model"].predict(namespace["X"]).argmax(axis=1)
    assert namespace["value"] < 0.2 and np.mean(predictions == namespace["Y"]) > 0.9


def test_the_benchmark_times_the_readme_loop() -> None:
    (block,) = _python_blocks(_section("Your own training loop"))
    body = block.split("x, y = X[i : i + 64], Y[i : i + 64]\n", 1)[1].split("print(")[0]
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import handwritten_step

    step = [line.strip() for line in inspect.getsource(handwritten_step).splitlines()]
    loop = [line.strip() for line in body.splitlines()]
    start = step.index(loop[0])
    assert step[start : start + len(loop)] == loop
