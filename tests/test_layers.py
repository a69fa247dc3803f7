"""The library's layers (issue 31): every import goes down the layers or sideways within one, and nothing circles.

``lib/llmgeom`` is one folder per layer, lowest first: :data:`LAYERS`; the command line (``cli``, ``__main__``) sits
above them all. Every ``.py`` file is parsed with :mod:`ast` (nothing is imported or executed) and every ``llmgeom``
import — at module level or inside a function — becomes an edge between modules:

* an edge may point to the same layer or a lower one, never up (the ``publish`` layer is therefore a leaf: only the
  command line imports it);
* the module graph has no cycle, within a layer included;
* every module lives in a layer folder, and a layer's ``__init__.py`` states its rule in a docstring and imports
  nothing (one import path per name: no re-exports).

``LLMGEOM_LAYERS_LIB`` points the scan at another copy of the package folder (to see it fail on a planted
wrong-way import without touching ``lib/``); the tests below also plant one in a copy themselves.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = Path(os.environ.get("LLMGEOM_LAYERS_LIB", ROOT / "lib" / "llmgeom"))
LAYERS = ("store", "core", "data", "models", "measure", "experiments", "publish")
TOP = ("cli", "__main__")
"""Modules above every layer: the command line."""


def module_name(path: Path, lib: Path) -> str:
    parts = path.relative_to(lib).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """A module's rank: its layer's index in :data:`LAYERS`; the command line above them; the package root (its
    ``__version__``) below them."""
    head = module.split(".")[0] if module else ""
    if head in LAYERS:
        return LAYERS.index(head)
    if head in TOP:
        return len(LAYERS)
    return -1


def imports(lib: Path) -> dict[str, set[tuple[str, int]]]:
    """``{module: {(imported module, line)}}`` for every ``llmgeom`` import of every file (names relative to the
    package: ``"core.entropy"``). ``from llmgeom.core import entropy`` imports the module ``core.entropy``."""
    modules = {module_name(p, lib) for p in lib.rglob("*.py")}
    edges: dict[str, set[tuple[str, int]]] = {}
    for path in sorted(lib.rglob("*.py")):
        source = module_name(path, lib)
        found = edges.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; write the absolute llmgeom path")
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}".removeprefix("llmgeom.") in modules
                           else node.module for a in node.names]
            else:
                continue
            for target in targets:
                if target == "llmgeom" or target.startswith("llmgeom."):
                    found.add((target.removeprefix("llmgeom").removeprefix("."), node.lineno))
    return edges


def upward(edges) -> list[str]:
    """Every import that points to a higher layer."""
    return [f"{source} (line {line}) imports {target}: {place(source)} may not import {place(target)}"
            for source, targets in sorted(edges.items()) for target, line in sorted(targets)
            if layer_of(target) > layer_of(source)]


def place(module: str) -> str:
    """The layer a module belongs to, in words."""
    rank = layer_of(module)
    return LAYERS[rank] if 0 <= rank < len(LAYERS) else ("the command line" if rank == len(LAYERS) else "the root")


def cycles(edges) -> list[list[str]]:
    """The module graph's cycles (one per strongly connected component of more than one module, or a self-loop)."""
    graph = {s: {t for t, _ in ts if t} for s, ts in edges.items()}
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_every_import_goes_down_or_sideways():
    wrong = upward(imports(LIB))
    assert not wrong, "imports that go up the layers:\n" + "\n".join(wrong)


def test_the_import_graph_has_no_cycle():
    found = cycles(imports(LIB))
    assert not found, "import cycles: " + "; ".join(" ⇄ ".join(c) for c in found)


def test_every_module_lives_in_a_layer_whose_init_states_its_rule_and_imports_nothing():
    strays = [m for m in (module_name(p, LIB) for p in LIB.rglob("*.py"))
              if m and m not in TOP and m.split(".")[0] not in LAYERS]
    assert not strays, f"modules outside the layer folders {LAYERS}: {strays}"
    assert {p.name for p in LIB.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS)
    for layer in LAYERS:
        tree = ast.parse((LIB / layer / "__init__.py").read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert "Rule:" in doc, f"{layer}/__init__.py: its docstring states no rule"
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)], \
            f"{layer}/__init__.py imports something (a re-export): import from the module itself"


def test_a_planted_wrong_way_import_and_a_planted_cycle_fail(tmp_path):
    lib = tmp_path / "llmgeom"
    shutil.copytree(LIB, lib, ignore=shutil.ignore_patterns("__pycache__"))
    assert not upward(imports(lib)) and not cycles(imports(lib))
    cache = lib / "store" / "cache.py"
    cache.write_text(cache.read_text() + "\n\ndef planted():\n    from llmgeom.experiments.card import make_card\n")
    entropy = lib / "core" / "entropy.py"
    entropy.write_text(entropy.read_text() + "\nfrom llmgeom.core import geometry\n")  # geometry imports entropy
    wrong = upward(imports(lib))
    assert len(wrong) == 1 and wrong[0].startswith("store.cache (line") and "experiments.card" in wrong[0]
    assert ["core.entropy", "core.geometry"] in cycles(imports(lib))
