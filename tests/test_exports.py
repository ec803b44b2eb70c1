"""Every public class is importable from its package, as `from gategraph.layers import ReLU`.

Rule: a class defined in any module of `gategraph.layers`, `.losses`, `.optim` or `.models`
whose name does not start with `_` is in that package's `__all__` and is the package's
attribute of that name; so is every class registered in LAYERS, LOSSES, OPTIMIZERS, SCHEDULES,
exported by the package whose module defines it.
"""

import importlib
import inspect
import pkgutil

import pytest

import gategraph.layers
import gategraph.losses
import gategraph.optim
from gategraph.core.registry import Registry

PACKAGES = ["gategraph.layers", "gategraph.losses", "gategraph.optim", "gategraph.models"]
REGISTRIES = [
    gategraph.layers.LAYERS,
    gategraph.losses.LOSSES,
    gategraph.optim.OPTIMIZERS,
    gategraph.optim.SCHEDULES,
]


def public_classes(package_name: str) -> dict[str, type]:
    """{name: class} of every public class defined in a module of the package."""
    package = importlib.import_module(package_name)
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package_name}.{info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                if not name.startswith("_"):
                    found[name] = value
    return found


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_public_class_is_exported_by_its_package(package_name: str) -> None:
    package = importlib.import_module(package_name)
    classes = public_classes(package_name)
    missing = sorted(set(classes) - set(package.__all__))
    assert not missing, f"{package_name}.__all__ lacks {missing}"
    assert all(getattr(package, name) is cls for name, cls in classes.items())


@pytest.mark.parametrize("registry", REGISTRIES, ids=[registry.kind for registry in REGISTRIES])
def test_every_registered_class_is_exported_by_the_package_that_defines_it(
    registry: Registry,
) -> None:
    classes = [registry.get(name) for name in registry.names()]
    assert len(classes) >= 4
    for cls in classes:  # a loss's helper gate (hinge_slope) is a layer defined by losses/
        package = importlib.import_module(cls.__module__.rpartition(".")[0])
        assert cls.__name__ in package.__all__, f"{package.__name__}.__all__ lacks {cls.__name__}"
        assert getattr(package, cls.__name__) is cls


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_exported_name_exists(package_name: str) -> None:
    package = importlib.import_module(package_name)
    assert len(set(package.__all__)) == len(package.__all__)
    assert [name for name in package.__all__ if not hasattr(package, name)] == []


def test_the_readme_imports_work() -> None:
    from gategraph.layers import Add, Affine, ReLU
    from gategraph.losses import SoftmaxCrossEntropy
    from gategraph.models import ComputationalGraph, Sequential
    from gategraph.optim import SGD, Adam

    names = [Affine, ReLU, Add, SoftmaxCrossEntropy, SGD, Adam, Sequential, ComputationalGraph]
    assert [cls.__name__ for cls in names] == [
        "Affine", "ReLU", "Add", "SoftmaxCrossEntropy", "SGD", "Adam", "Sequential",
        "ComputationalGraph",
    ]  # fmt: skip
