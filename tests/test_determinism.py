"""Two fresh builds give the same glued numbers (``make determinism``, part of ``make test``).

The first build is ``make book-fresh`` (``_build/``); the second re-executes every notebook with an empty results
cache into ``_build/determinism/``. Every value that reaches the prose through ``glue`` must be identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.determinism

ROOT = Path(__file__).resolve().parents[1]
FIRST = ROOT / "_build" / "jupyter_execute" / "notebooks"
SECOND = ROOT / "_build" / "determinism" / "_build" / "jupyter_execute" / "notebooks"


def glued(folder: Path) -> dict[str, dict[str, str]]:
    values = {}
    for path in sorted(folder.glob("*.glue.json")):
        for name, output in json.loads(path.read_text()).items():
            data = output.get("data", {})
            values[f"{path.name.removesuffix('.glue.json')}::{name}"] = {
                mime: data[mime] for mime in ("text/plain", "text/markdown") if mime in data
            }
    return values


def test_two_fresh_builds_glue_identical_values():
    if not SECOND.is_dir():
        pytest.fail("no second build in _build/determinism: run 'make determinism'")
    first, second = glued(FIRST), glued(SECOND)
    assert first, "the first build glued nothing"
    assert set(first) == set(second), f"glued names differ: {sorted(set(first) ^ set(second))}"
    differing = {name: (first[name], second[name]) for name in first if first[name] != second[name]}
    assert not differing, f"{len(differing)} of {len(first)} glued values differ: {differing}"
