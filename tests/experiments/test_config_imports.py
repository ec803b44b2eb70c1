"""A config's `imports:`: the user's files and modules are imported before validation, stored
absolute, imported once, and every failure is one line naming the file."""

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gategraph.experiments.build import build
from gategraph.experiments.config import ConfigError, dump_config, load_config, resolve_config
from gategraph.layers import LAYERS

SWISH = '''\
import numpy as np

from gategraph.layers import LAYERS, Layer


@LAYERS.register("swish")
class Swish(Layer):
    """out = x * sigmoid(x)."""

    def forward(self, x):
        self._x, self._s = x, 1 / (1 + np.exp(-x))
        return x * self._s

    def backward(self, dout):
        return dout * (self._s + self._x * self._s * (1 - self._s))
'''
CONFIG = """\
imports: [{entry}]
data: {{name: spiral, n_per_class: 5, classes: 3}}
model:
  layers: [{{type: affine, out_dim: 4}}, {{type: swish}}, {{type: affine, out_dim: 3}}]
optim: {{type: sgd, lr: 0.1}}
"""


@pytest.fixture(autouse=True)
def forget_user_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with the registries, sys.path and sys.modules as they were."""
    monkeypatch.setattr(LAYERS, "_classes", dict(LAYERS._classes))
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_file_is_imported_relative_to_the_config_and_stored_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swish = write(tmp_path / "project", "mine/swish.py", SWISH)
    path = write(tmp_path / "project", "c.yaml", CONFIG.format(entry="mine/swish.py"))
    monkeypatch.chdir(tmp_path)  # not the config's folder
    config = load_config(path)
    assert config["imports"] == [str(swish)]
    assert list(config)[0] == "imports"  # dumped first, as a Python file imports first
    assert LAYERS.get("swish").__module__ == "swish"
    assert str(swish.parent) in sys.path  # the user's file may import its neighbours
    x = np.array([[-1.0, 0.0, 2.0]])
    layer = LAYERS.get("swish")()
    np.testing.assert_allclose(layer.forward(x), [[-0.26894142, 0.0, 1.76159416]])
    built = [type(layer).__name__ for layer in build(config).model.layers.values()]
    assert built == ["Affine", "Swish", "Affine"]
    elsewhere = write(tmp_path / "runs" / "r", "config.yaml", dump_config(config))
    assert load_config(elsewhere) == config  # a run's config.yaml imports it from anywhere


def test_a_config_without_imports_is_resolved_as_before(tmp_path: Path) -> None:
    text = CONFIG.format(entry="").replace("type: swish", "type: relu")
    assert "imports" not in load_config(write(tmp_path, "c.yaml", text))


def test_a_module_name_is_imported_from_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "lib", "mylab_layers.py", SWISH)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    config = load_config(write(tmp_path, "c.yaml", CONFIG.format(entry="mylab_layers")))
    assert config["imports"] == ["mylab_layers"]
    assert LAYERS.get("swish").__module__ == "mylab_layers"


def test_a_file_is_imported_once_and_a_reimport_replaces_its_class_quietly(
    tmp_path: Path,
) -> None:
    write(tmp_path, "mine/swish.py", SWISH.replace("out = x", "out = x  # counted") + "RUNS = []\n")
    path = write(tmp_path, "c.yaml", CONFIG.format(entry="mine/swish.py"))
    first = load_config(path)
    module = sys.modules["swish"]
    module.RUNS.append(1)
    assert load_config(path) == first and sys.modules["swish"].RUNS == [1]  # not run again
    old = LAYERS.get("swish")
    reloaded = importlib.reload(module)  # a notebook cell run twice: the same class again
    assert LAYERS.get("swish") is reloaded.Swish is not old


def test_another_class_under_a_taken_name_is_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, "mine/swish.py", SWISH)
    write(tmp_path, "theirs/other.py", SWISH.replace("class Swish", "class Other"))
    text = CONFIG.format(entry="mine/swish.py, theirs/other.py")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "c.yaml", text))
    other = tmp_path / "theirs" / "other.py"
    assert str(caught.value) == (
        f"{tmp_path}/c.yaml:1: imports[1]: cannot import {other}: ValueError: layer 'swish' is "
        f"taken by swish.Swish; cannot register other.Other under it too ({other}:6)"
    )


@pytest.mark.parametrize(
    ("entry", "code", "reason"),
    [
        ("mine/none.py", None, "no such file: {dir}/mine/none.py (a file in imports is relative "
         "to the config)"),
        ("mine/bad.py", "import numpy\n\nx = np.zeros(3)\n", "cannot import {dir}/mine/bad.py: "
         "NameError: name 'np' is not defined ({dir}/mine/bad.py:3)"),
        ("mine/bad.py", "def f(:\n", "cannot import {dir}/mine/bad.py: SyntaxError: invalid "
         "syntax (bad.py, line 1)"),
        ("no_such_module_here", None, "cannot import no_such_module_here: ModuleNotFoundError: "
         "No module named 'no_such_module_here'"),
        ("my-layers", None, "must be a .py file or a module name like mylab.layers, got "
         "'my-layers'"),
    ],
)  # fmt: skip
def test_an_import_that_fails_is_one_line_naming_the_file(
    tmp_path: Path, entry: str, code: str | None, reason: str
) -> None:
    if code is not None:
        write(tmp_path, entry, code)
    path = write(tmp_path, "c.yaml", CONFIG.format(entry=entry).replace("swish", "relu"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:1: imports[0]: " + reason.format(dir=tmp_path)
    assert "bad" not in sys.modules  # a fixed file is imported afresh


def test_imports_must_be_a_list_of_names() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_config({"imports": "mine/swish.py"})
    assert str(caught.value) == (
        "imports: must be a list of Python files (like mine/swish.py) or module names, got "
        "'mine/swish.py'"
    )
