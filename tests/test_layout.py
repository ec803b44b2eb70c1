"""The house: the installed package's modules import one way through the rooms, with no cycle;
no room holds more than 30% of the library; the distribution installs one name, gategraph."""

import ast
import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import gategraph

# The one-way import order, lowest first: a module may import only from its own room and the
# rooms on earlier levels (rooms on one level, like losses, optim and data, are peers).
ORDER = "core -> layers -> losses, optim, data -> models -> gradcheck -> saving -> training -> "
ORDER += "experiments -> sweeps -> drawing"
LEVEL = {room: i for i, level in enumerate(ORDER.split(" -> ")) for room in level.split(", ")}
MAX_SHARE = 0.30
SHADOWED = ("layers", "losses", "optim", "models", "data")


def library() -> dict[str, Path]:
    """{module name: source file} of every module of the installed gategraph package. An
    editable install maps each room to its own folder, so each room's package is walked."""
    found = {"gategraph": Path(gategraph.__file__)}
    for room in LEVEL:
        package = importlib.import_module(f"gategraph.{room}")
        found[package.__name__] = Path(package.__file__)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            found[info.name] = Path(importlib.util.find_spec(info.name).origin)
    return found


MODULES = library()


def imports(name: str) -> set[str]:
    """The gategraph modules that module `name` imports anywhere in its source (in functions
    too): `from a.b import c` is a.b.c when that is a module, else a.b."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_module(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found |= {_module(f"{base}.{alias.name}", base) for alias in node.names}
    return {target for target in found if target} - {name}


def _module(dotted: str, fallback: str = "") -> str:
    """The longest start of `dotted` (or of `fallback`) that is a gategraph module, or ""."""
    for text in (dotted, fallback):
        while text and text not in MODULES:
            text = text.rpartition(".")[0]
        if text:
            return text
    return ""


GRAPH = {name: imports(name) for name in MODULES}


def room(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def test_the_walk_finds_every_room_and_module() -> None:
    assert {room(name) for name in MODULES} == {"", *LEVEL}
    assert "gategraph.layers.affine" in MODULES and "gategraph.experiments.config.load" in MODULES
    assert GRAPH["gategraph.experiments.session"] >= {
        "gategraph.experiments.build",
        "gategraph.saving.run",
        "gategraph.training.trainer",
    }


def test_no_module_imports_one_that_imports_it_back() -> None:
    for start in sorted(GRAPH):
        cycle = _cycle_through(start)
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _cycle_through(start: str) -> list[str] | None:
    """A shortest chain of imports from `start` back to itself (breadth first), or None."""
    came_from: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop(0)
        for target in sorted(GRAPH[current]):
            if target == start:
                chain = [current]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [*reversed(chain), start]
            if target not in came_from:
                came_from[target] = current
                todo.append(target)
    return None


def test_imports_flow_one_way_through_the_rooms() -> None:
    wrong = [
        f"{name} ({room(name)}) imports {target} ({room(target)})"
        for name, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if room(name) and room(target) and LEVEL[room(target)] > LEVEL[room(name)]
    ]
    assert not wrong, f"against the order {ORDER}: " + "; ".join(wrong)
    assert not GRAPH["gategraph"], "the top package imports no room"


def test_no_room_holds_more_than_30_percent_of_the_library() -> None:
    lines = {r: 0 for r in LEVEL}
    for name, path in MODULES.items():
        if room(name):
            lines[room(name)] += len(path.read_text(encoding="utf-8").splitlines())
    total = sum(lines.values())
    shares = {r: n / total for r, n in lines.items()}
    biggest = max(shares, key=shares.__getitem__)
    assert shares[biggest] <= MAX_SHARE, f"{biggest} holds {shares[biggest]:.0%} of {total} lines"


def test_the_distribution_installs_one_name(tmp_path: Path) -> None:
    code = (
        "import importlib.metadata, importlib.util, json\n"
        "dist = importlib.metadata.distribution('gategraph')\n"
        "top = (dist.read_text('top_level.txt') or '').split()\n"
        "files = sorted({str(f).split('/')[0] for f in dist.files or []})\n"
        f"found = [n for n in {SHADOWED!r} if importlib.util.find_spec(n) is not None]\n"
        "print(json.dumps([top, files, found]))\n"
    )
    done = subprocess.run(  # -I and an empty folder: neither the repository nor PYTHONPATH
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    top, files, found = json.loads(done.stdout)
    assert top == ["gategraph"]
    machinery = ("gategraph-", "__editable__", "__pycache__")  # dist-info, an editable install
    assert [f for f in files if not f.startswith(machinery)] in (["gategraph"], [])
    assert found == []
