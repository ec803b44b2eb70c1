"""Registries: every op module imported by its package, every gate registered, messages pinned.

Rule for "every gate registered": a class defined in a module of `layers/` or `losses/` that
subclasses Layer must be in LAYERS (LOSSES for a Loss), unless its name starts with `_` (a
private helper base such as `_Binary`) or it is one of the public bases Layer and Loss.
"""

import importlib
import json
import pkgutil
import re
import subprocess
import sys

import numpy as np
import pytest

import gategraph.layers as layers
import gategraph.losses as losses
from gategraph.core.registry import Registry
from gategraph.layers.affine import Affine
from gategraph.layers.base import LAYERS, ConstantGate, Layer
from gategraph.losses.base import LOSSES, Loss

PACKAGES = ["gategraph.layers", "gategraph.losses", "gategraph.optim", "gategraph.data"]

# Run in a fresh interpreter: in this one, other tests may already have imported a module
# that the package's __init__.py forgets. Prints {module: ["kind:name", ...]} it added.
_ADDED_BY_IMPORT = """
import importlib, json, pkgutil, sys
from gategraph.core.registry import Registry

def names(package):
    return {
        f"{value.kind}:{name}"
        for module_name, module in list(sys.modules.items())
        if module_name == package or module_name.startswith(package + ".")
        for value in vars(module).values() if isinstance(value, Registry)
        for name in value.names()
    }

package = sys.argv[1]
path = importlib.import_module(package).__path__
before, added = names(package), {}
for info in pkgutil.iter_modules(path):
    importlib.import_module(f"{package}.{info.name}")
    now = names(package)
    if now - before:
        added[info.name] = sorted(now - before)
    before = now
print(json.dumps(added))
"""


@pytest.mark.parametrize("package", PACKAGES)
def test_package_init_imports_every_registering_module(package: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _ADDED_BY_IMPORT, package], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    added = json.loads(run.stdout)
    assert added == {}, (
        f"{package}/__init__.py does not import {sorted(added)}, which register {added}: "
        "add them to its import line"
    )


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _registered(registry: Registry) -> list[type]:
    return [registry.get(name) for name in registry.names()]


def test_every_public_gate_class_is_registered() -> None:
    for package in (layers, losses):
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    registered = _registered(LAYERS) + _registered(LOSSES)
    missing = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in _all_subclasses(Layer)
        if cls.__module__.startswith(("gategraph.layers.", "gategraph.losses."))
        and not cls.__name__.startswith("_")
        and cls not in (Loss, ConstantGate)
        and cls not in registered
    ]
    assert missing == [], f"not registered in LAYERS/LOSSES (nor named _private): {missing}"


def test_losses_live_in_losses_and_gates_in_layers() -> None:
    assert all(not issubclass(cls, Loss) for cls in _registered(LAYERS))
    assert all(issubclass(cls, Loss) for cls in _registered(LOSSES))


@pytest.mark.parametrize("registry", [LAYERS, LOSSES], ids=lambda r: r.kind)
def test_names_are_snake_case_and_classes_capwords(registry: Registry) -> None:
    for name in registry.names():
        cls = registry.get(name)
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), name
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", cls.__name__), cls.__name__
        assert cls.key == name


def test_unknown_name_suggests_the_closest_and_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as info:
        LAYERS.get("afine")
    valid = ", ".join(LAYERS.names())
    assert str(info.value) == f"unknown layer 'afine' (did you mean 'affine'?); valid: {valid}"


def test_unknown_name_without_a_close_match_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as info:
        LAYERS.get("qqqqqq")
    assert str(info.value) == f"unknown layer 'qqqqqq'; valid: {', '.join(LAYERS.names())}"


def test_registering_a_name_twice_raises_and_keeps_the_first() -> None:
    with pytest.raises(ValueError) as info:
        LAYERS.register("affine")(type("Impostor", (), {}))
    assert str(info.value) == (
        "layer 'affine' is taken by gategraph.layers.affine.Affine; "
        "cannot register test_registry.Impostor under it too"
    )
    assert LAYERS.get("affine") is Affine


def test_build_rejects_an_unknown_option() -> None:
    with pytest.raises(ValueError) as info:
        LAYERS.build({"type": "affine", "in_dim": 2, "out_dims": 3}, rng=np.random.default_rng())
    assert str(info.value) == (
        "'affine' got unknown ['out_dims']; accepted: in_dim, out_dim, init, init_scale"
    )


@pytest.mark.parametrize("name", LAYERS.names())
def test_every_gate_has_a_float64_example_with_one_input_per_slot(name: str) -> None:
    layer, x = LAYERS.get(name).example(np.random.default_rng(0))
    inputs = x if isinstance(x, tuple) else (x,)
    assert len(inputs) == layer.n_inputs
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in inputs)
    assert all(p.value.dtype == np.float64 for p in layer.params.values())


@pytest.mark.parametrize(
    ("registry", "name"),
    [(LAYERS, n) for n in LAYERS.names()] + [(LOSSES, n) for n in LOSSES.names()],
)
def test_backward_before_forward_raises_naming_the_class(registry: Registry, name: str) -> None:
    layer, _ = registry.get(name).example(np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=rf"^{type(layer).__name__}\.backward called before"):
        layer.backward(np.ones(1))


def test_registering_the_same_class_again_replaces_it_quietly() -> None:
    """A module re-imported (a notebook cell run twice, importlib.reload) registers a new
    class object of the same module and name: it replaces the old one."""
    registry: Registry = Registry("layer")
    first = type("Swish", (), {"__module__": "mine.swish"})
    again = type("Swish", (), {"__module__": "mine.swish"})
    registry.register("swish")(first)
    registry.register("swish")(again)
    assert registry.get("swish") is again and registry.names() == ["swish"]
