"""The package declares what it imports (issue 23): installed on its own (``pip install .``), llmgeom must work.

Every ``.py`` file under ``lib/llmgeom`` is parsed with :mod:`ast` (nothing is imported or executed); the top-level
module of every absolute ``import``/``from … import`` (at module level or inside a function) that is neither the
standard library (``sys.stdlib_module_names``) nor ``llmgeom`` itself is mapped to its distribution name and
compared with ``pyproject.toml``'s ``[project] dependencies`` (names normalised per PEP 503):

* everything imported must be declared; a distribution may be declared only in an
  ``[project.optional-dependencies]`` extra if every import of it is guarded by ``try: … except ImportError``;
* everything declared must be imported, unless it is in :data:`LOADED_BY_NAME` with the reason;
* everything declared is pinned exactly (``==``) in ``requirements.txt``, the book's environment, and that pin
  satisfies pyproject's constraint.

No network. ``LLMGEOM_DEPS_LIB`` points the scan at another copy of the package folder (to see the test fail on a
planted import without touching ``lib/``).
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LIB = Path(os.environ.get("LLMGEOM_DEPS_LIB", ROOT / "lib" / "llmgeom"))
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "requirements.txt"

# Import name -> distribution name, for every third-party module the library imports. A module missing here is
# assumed to be distributed under its own name; add it here when that is wrong (e.g. cv2 -> opencv-python).
IMPORT_TO_DIST = {
    "cycler": "cycler",
    "jsonschema": "jsonschema",
    "jupyterlab": "jupyterlab",
    "jupytext": "jupytext",
    "matplotlib": "matplotlib",
    "myst_nb": "myst-nb",
    "numpy": "numpy",
    "rdata": "rdata",
    "safetensors": "safetensors",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "tokenizers": "tokenizers",
    "torch": "torch",
    "tqdm": "tqdm",
    "transformers": "transformers",
    "yaml": "PyYAML",
}

# Declared runtime dependencies that no file of the library imports, each with why it is needed anyway.
LOADED_BY_NAME = {
    "gguf": "transformers imports it to read GGUF files (models.py loads the built-in smollm2-135m and gemma-3-270m "
            "with gguf_file=...)",
    "accelerate": "transformers imports it when a model is loaded with device_map= (models.load, "
                  "'llmgeom card --device-map auto')",
}

IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def normalise(name: str) -> str:
    """A distribution name normalised per PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution(module: str) -> str:
    return normalise(IMPORT_TO_DIST.get(module, module))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in IMPORT_ERRORS | {"Exception", "BaseException"} for n in names)


def _imports(tree: ast.AST):
    """(top-level module name, line, guarded) for every absolute import in ``tree``; ``guarded`` when it sits in
    the body of a ``try`` that catches ImportError. ``importlib.import_module("x")`` with a literal counts too."""
    def visit(node, guarded):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno, guarded
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno, guarded
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and not node.args[0].value.startswith(".")):
            yield node.args[0].value.split(".")[0], node.lineno, guarded
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            body_guarded = guarded or any(_catches_import_error(h) for h in node.handlers)
            for child in node.body:
                yield from visit(child, body_guarded)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from visit(child, guarded)
        else:
            for child in ast.iter_child_nodes(node):
                yield from visit(child, guarded)

    yield from visit(tree, False)


def third_party_imports(lib: Path = LIB) -> dict[str, dict[str, list[str]]]:
    """Distribution -> {"guarded": [...], "unguarded": [...]} places ("file:line") it is imported from."""
    files = sorted(lib.rglob("*.py"))
    assert files, f"no .py files under {lib}"
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"guarded": [], "unguarded": []})
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module, line, guarded in _imports(tree):
            if module in sys.stdlib_module_names or module == "llmgeom":
                continue
            where = f"{path.relative_to(lib.parent).as_posix()}:{line}"
            found[distribution(module)]["guarded" if guarded else "unguarded"].append(where)
    return dict(found)


def declared() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    """(runtime dependencies, dependencies of the extras) of pyproject.toml, by normalised name."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    core = {normalise(r.name): r for r in map(Requirement, project.get("dependencies", []))}
    extras = {normalise(r.name): r
              for group in project.get("optional-dependencies", {}).values() for r in map(Requirement, group)}
    return core, extras


def pinned() -> dict[str, Requirement]:
    """The requirements of requirements.txt (options such as ``-e .`` left out), by normalised name."""
    result = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            result[normalise(requirement.name)] = requirement
    return result


def _listing(names, places) -> str:
    return "\n".join(f"  {name}  (imported at {', '.join(places[name][:3])}"
                     f"{', …' if len(places[name]) > 3 else ''})" for name in sorted(names))


def test_every_import_is_declared():
    imports = third_party_imports()
    core, extras = declared()
    places = {name: uses["unguarded"] + uses["guarded"] for name, uses in imports.items()}
    undeclared = {name for name in imports if name not in core and name not in extras}
    only_in_extra = {name for name, uses in imports.items()
                     if name not in core and name in extras and uses["unguarded"]}
    message = []
    if undeclared:
        message.append("llmgeom imports distributions that pyproject.toml does not declare in [project] "
                       "dependencies (add them, with a lower bound matching requirements.txt's pin; if the "
                       "distribution name differs from the import name, fix IMPORT_TO_DIST in this test):\n"
                       + _listing(undeclared, places))
    if only_in_extra:
        message.append("declared only in an optional extra but imported without a try/except ImportError guard "
                       "(declare them in [project] dependencies, or guard the import with a clear message):\n"
                       + _listing(only_in_extra, {n: imports[n]["unguarded"] for n in only_in_extra}))
    assert not message, "\n".join(message)


def test_every_declared_dependency_is_imported():
    imports = third_party_imports()
    core, extras = declared()
    allowed = {normalise(name) for name in LOADED_BY_NAME}
    unused = sorted(name for name in set(core) | set(extras) if name not in imports and name not in allowed)
    assert not unused, ("pyproject.toml declares dependencies that no file under lib/llmgeom imports (remove them, "
                        "or add them to LOADED_BY_NAME in this test with the reason): " + ", ".join(unused))
    stale = sorted(name for name in allowed if name not in core and name not in extras)
    assert not stale, f"LOADED_BY_NAME lists names pyproject.toml does not declare: {', '.join(stale)}"


def test_declared_dependencies_are_pinned_in_requirements():
    core, extras = declared()
    pins = pinned()
    missing, loose, outside = [], [], []
    for name, requirement in sorted({**extras, **core}.items()):
        pin = pins.get(name)
        if pin is None:
            missing.append(name)
            continue
        exact = [s for s in pin.specifier if s.operator == "=="]
        if len(exact) != 1:
            loose.append(f"{name} ({pin.specifier or 'no version'})")
        elif not requirement.specifier.contains(exact[0].version, prereleases=True):
            outside.append(f"{name}=={exact[0].version} is outside pyproject's '{requirement.specifier}'")
    message = []
    if missing:
        message.append("declared in pyproject.toml but not in requirements.txt: " + ", ".join(missing))
    if loose:
        message.append("not pinned exactly (==) in requirements.txt: " + ", ".join(loose))
    if outside:
        message.append("requirements.txt's pin does not satisfy pyproject.toml: " + "; ".join(outside))
    assert not message, "\n".join(message)


def test_mapping_agrees_with_the_installed_distributions():
    """Where the environment has the module installed, IMPORT_TO_DIST names a distribution that provides it."""
    provided = importlib.metadata.packages_distributions()
    modules = {module for path in sorted(LIB.rglob("*.py"))
               for module, _, _ in _imports(ast.parse(path.read_text(encoding="utf-8")))
               if module not in sys.stdlib_module_names and module != "llmgeom"}
    wrong = [f"{module} is provided by {', '.join(provided[module])}, not {IMPORT_TO_DIST.get(module, module)}"
             for module in sorted(modules) if module in provided
             and distribution(module) not in {normalise(d) for d in provided[module]}]
    assert not wrong, "fix IMPORT_TO_DIST: " + "; ".join(wrong)


def test_the_scan_sees_function_level_and_guarded_imports():
    tree = ast.parse("import numpy as np\nfrom . import cache\nfrom llmgeom import fit\n"
                     "def f():\n    from sklearn.linear_model import Ridge\n"
                     "try:\n    import jupytext\nexcept ImportError:\n    import yaml\n"
                     "import importlib\nimportlib.import_module('rdata.parser')\n")
    assert sorted(_imports(tree)) == [("importlib", 10, False), ("jupytext", 7, True), ("llmgeom", 3, False),
                                      ("numpy", 1, False), ("rdata", 11, False), ("sklearn", 5, False),
                                      ("yaml", 9, False)]
