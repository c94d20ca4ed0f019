"""The package's boundaries, read from its source (AST only: nothing is imported or run).

1. Lower rooms do not import upper ones: bench.models and bench.data (what every stage builds on)
   never import bench.rerank, bench.first_stage, bench.suites or bench.profile, not even lazily
   inside a function. Errors shared by several layers live in bench.errors.
2. No module reaches into another bench module's private names. A module offers what others need
   as public names; a leading underscore means "this module's own business". Flagged:
   - `from bench.x import _name`, and `alias._name` where `alias` is an imported bench module;
   - `obj._name`, or getattr/hasattr/setattr(obj, "_name"), where `_name` is a private attribute
     or method that a bench class defines in another module (and not in this one): the pattern
     of an engine calling a model layer's `_heads`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bench"

#: room -> the rooms it must not import
LOWER_ROOMS = {
    "bench.models": ("bench.rerank", "bench.first_stage", "bench.suites", "bench.profile"),
    "bench.data": ("bench.rerank", "bench.first_stage", "bench.suites", "bench.profile"),
}
ATTRIBUTE_PROBES = {"getattr", "hasattr", "setattr", "delattr"}


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. bench.rerank.engine
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def parse(name: str, source: str, path: Path | None = None) -> Module:
    path = path or Path(name.replace(".", "/") + ".py")
    return Module(name, path, ast.parse(source, filename=str(path)))


def package_modules() -> list[Module]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append(parse(name, path.read_text(encoding="utf-8"), path))
    return modules


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def imported_modules(module: Module) -> Iterator[tuple[ast.AST, str]]:
    """(node, absolute module name) of every import, relative ones resolved, lazy ones included."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node, base
            for alias in node.names:  # `from bench.suites import rag` imports bench.suites.rag
                yield node, f"{base}.{alias.name}"


def upward_imports(module: Module) -> list[str]:
    forbidden = next((rooms for room, rooms in LOWER_ROOMS.items() if within(module.name, room)), ())
    return [
        f"{module.path}:{node.lineno} imports {name}"
        for node, name in imported_modules(module)
        if any(within(name, room) for room in forbidden)
    ]


def within(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


def bench_module_aliases(module: Module) -> dict[str, str]:
    """Local names bound to bench modules (`import bench.x as y`, `from bench import x`) -> module name."""
    aliases = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if within(alias.name, "bench"):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and within(node.module or "", "bench"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def private_members(module: Module) -> set[str]:
    """Private methods and attributes that this module's classes define (`def _x`, `self._x = ...`)."""
    names = set()
    for cls in (n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and is_private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and is_private(node.attr):
                if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                    names.add(node.attr)
            elif isinstance(node, ast.AnnAssign | ast.Assign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name) and is_private(t.id))
    return names


def private_accesses(module: Module, others: set[str]) -> list[str]:
    """Where `module` touches a private name of another bench module (`others`: their class members)."""
    foreign = others - private_members(module)
    aliases = bench_module_aliases(module)
    found = []
    for node in ast.walk(module.tree):
        where = f"{module.path}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.level == 0 and within(node.module or "", "bench"):
            found += [f"{where} imports {node.module}.{a.name}" for a in node.names if is_private(a.name)]
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
                continue
            if isinstance(owner, ast.Name) and owner.id in aliases:
                found.append(f"{where} reads {aliases[owner.id]}.{node.attr}")
            elif node.attr in foreign:
                found.append(f"{where} reads {ast.unparse(node)}, private to another bench module")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_PROBES:
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value in foreign:
                found.append(f"{where} probes {ast.unparse(node)}, private to another bench module")
    return found


def class_private_names(modules: list[Module]) -> dict[str, set[str]]:
    return {module.name: private_members(module) for module in modules}


MODULES = package_modules()
PRIVATE = class_private_names(MODULES)


def foreign_private(module: Module) -> set[str]:
    return set().union(*(names for name, names in PRIVATE.items() if name != module.name))


# ----------------------------------------------------------------------------------------------


def test_the_scan_sees_the_package():
    names = {module.name for module in MODULES}
    assert {"bench.models.jinabert", "bench.rerank.engine", "bench.data.records", "bench.errors"} <= names
    assert "_heads" in PRIVATE["bench.models.jinabert"]


@pytest.mark.parametrize("module", [m for m in MODULES if any(within(m.name, r) for r in LOWER_ROOMS)],
                         ids=lambda m: m.name)
def test_lower_rooms_do_not_import_upper_ones(module):
    assert upward_imports(module) == []


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_no_module_reaches_into_another_modules_private_names(module):
    assert private_accesses(module, foreign_private(module)) == []


# The checks against the patterns they exist to catch.


def test_an_upward_import_is_caught_even_lazily_and_relative():
    hub = parse("bench.models.hub", "from bench.rerank.base import ModelUnavailable\n")
    lazy = parse("bench.data.sources", "def f():\n    from ..suites.rag import run\n")
    plain = parse("bench.models.sentence", "import bench.first_stage.dense as dense\n")
    assert upward_imports(hub) == ["bench/models/hub.py:1 imports bench.rerank.base",
                                   "bench/models/hub.py:1 imports bench.rerank.base.ModelUnavailable"]
    assert [line.split(" imports ")[1] for line in upward_imports(lazy)] == ["bench.suites.rag", "bench.suites.rag.run"]
    assert upward_imports(plain) == ["bench/models/sentence.py:1 imports bench.first_stage.dense"]
    assert upward_imports(parse("bench.models.hub", "from bench.errors import ModelUnavailable\n")) == []


OLD_ENGINE = '''
import torch.nn.functional as F


class FirstTokenJinaBertLayer:
    def forward(self, hidden, bias):
        heads = self.layer.attention.self
        return F.scaled_dot_product_attention(heads._heads(heads.query(hidden)), heads._heads(hidden), hidden)


def _first_token_layer(layer, heads):
    if hasattr(layer, "mlp") and hasattr(heads, "_heads"):
        return FirstTokenJinaBertLayer(layer)
    return None
'''


def test_the_engine_calling_a_model_layers_private_method_is_caught():
    engine = parse("bench.rerank.engine", OLD_ENGINE)
    found = private_accesses(engine, foreign_private(engine))
    assert sorted(line.split(" ", 1)[1] for line in found) == [
        "probes hasattr(heads, '_heads'), private to another bench module",
        "reads heads._heads, private to another bench module",
        "reads heads._heads, private to another bench module",
    ]


def test_module_private_names_are_caught_and_own_names_are_not():
    source = (
        "from bench.models import jinabert\n"
        "from bench.report.build import _significance\n"
        "import bench.models.alibi as alibi\n"
        "class Cache:\n"
        "    def __init__(self):\n"
        "        self._biases = {}\n"
        "    def size(self, other):\n"
        "        return len(self._biases) + len(other._biases)\n"
        "x = jinabert._open_for_reading, alibi._private, _significance\n"
    )
    module = parse("bench.somewhere", source)
    found = private_accesses(module, {"_biases", "_heads"})
    assert found == [
        "bench/somewhere.py:2 imports bench.report.build._significance",
        "bench/somewhere.py:9 reads bench.models.jinabert._open_for_reading",
        "bench/somewhere.py:9 reads bench.models.alibi._private",
    ]  # `other._biases` is allowed: this module defines `_biases` itself
