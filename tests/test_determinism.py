"""The same inputs give identical glued values (``make determinism``, part of ``make test``, after ``make test-build``).

The test build (``make test-build``) executes every notebook from an empty results cache and records every glued
value in ``_build/glue.json``. Here chapters are executed once more, each in a new kernel, and must glue exactly
the same values:

* **cheap** chapters (:data:`COLD`) from another empty results cache: the whole computation, cached units and
  all, runs twice and must agree bit for bit; one of them (:data:`DOWNLOADED`) runs from the ``.ipynb`` the site
  offers for download, copied into a folder outside the repository, as a reader who downloaded it would;
* chapters whose **expensive part is cached** (:data:`WARM`) from the test build's now-warm results cache: every
  cached unit is served from disk (checked: the run adds no result to the cache), everything else — fits,
  bootstraps, tables, verdicts — runs again. This shows the cache never changes a glued value, and that what is
  not cached repeats at full scale;
* the rest (:data:`NOT_AGAIN`, each with its reason) would cost as much again as in the build.

What every chapter's cached and random units would do if recomputed is checked by ``tests/test_reproducible.py``:
each unit, on small real inputs, in two fresh processes. Together these replace a second full cold build, which
doubled the time of ``make test``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from llmgeom.publish.glued import from_notebook

pytestmark = pytest.mark.determinism

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "_build" / "glue.json"
#: cheap to execute cold (seconds on the recorded machine, bench/latest/build.json): executed again from scratch
COLD = ["04_ridge_information_gain", "92_performance", "94_models_and_data"]
#: executed from the copy a reader downloads from the built site (_build/html/_downloads/), in another folder
DOWNLOADED = "04_ridge_information_gain"
#: expensive, and their expensive part is cached: executed again from the test build's warm results cache
WARM = ["02_entropy_vs_size", "05_lasso_attention", "06_information_spread", "93_reproduction_cards"]
#: not executed again, and why: a warm run of these costs about what a cold one does (their work is not cached),
#: and every random or cached unit they call is in tests/reproducible_units.py
NOT_AGAIN = {
    "01_matrix_entropy": "synthetic matrices from seeded generators (states_with_spectrum) and the entropy kernels",
    "03_gaussian_theory": "its spectra are chapter 2's cached corpus_spectra (C1's word too, through size_law and "
                          "isotropic_spectra); what it adds is the uncached "
                          "simulation (covariance_with_spectrum, sample_gaussian) and seeded bootstraps "
                          "(hierarchical_means, passage_decays), all in reproducible_units",
    "07_sentence_geometry": "make_triples, hidden_states and sentence_distances, none cached",
    "91_model_ladder": "reads the committed training logs; held-out losses are recomputed by test_ladder.py",
}


def test_every_notebook_is_checked_or_excused_once():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.md"))
    assert sorted(COLD + WARM + list(NOT_AGAIN)) == notebooks, "a notebook is in none of COLD, WARM, NOT_AGAIN, or in two"


@pytest.fixture(scope="module")
def record():
    if not RECORD.is_file():
        pytest.fail("no _build/glue.json: run 'make test-build' first")
    return json.loads(RECORD.read_text(encoding="utf-8"))["values"]


def execute(chapter: str, cache: Path, monkeypatch, notebook_file: Path | None = None) -> dict:
    """Execute a chapter in a new kernel that uses ``cache`` as its results cache; return what it glued.

    By default the chapter's ``.md`` runs in ``notebooks/``; ``notebook_file`` runs that ``.ipynb`` in its own folder.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LLMGEOM_CACHE", str(cache))  # the kernel inherits the environment
    if notebook_file is None:
        notebook, folder = jupytext.read(ROOT / "notebooks" / f"{chapter}.md"), ROOT / "notebooks"
    else:
        notebook, folder = nbformat.read(notebook_file, as_version=4), notebook_file.parent
    NotebookClient(notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return from_notebook(notebook, chapter)


def downloaded(chapter: str, folder: Path) -> Path:
    """The chapter's ``.ipynb`` as the built site offers it for download, copied into ``folder``."""
    offered = sorted((ROOT / "_build" / "html" / "_downloads").glob(f"*/{chapter}.ipynb"))
    if not offered:
        pytest.fail(f"the built site offers no {chapter}.ipynb download: run 'make test-build' first")
    folder.mkdir(parents=True)
    return Path(shutil.copy(offered[0], folder / f"{chapter}.ipynb"))


def assert_same(chapter: str, again: dict, record: dict) -> None:
    before = {name: value for name, value in record.items() if name.startswith(f"{chapter}::")}
    assert before, f"the test build glued nothing for {chapter}"
    assert set(again) == set(before), f"glued names differ: {sorted(set(again) ^ set(before))}"
    differing = {name: (before[name], again[name]) for name in before if before[name] != again[name]}
    assert not differing, f"{len(differing)} of {len(before)} glued values of {chapter} differ: {differing}"


@pytest.mark.parametrize("chapter", COLD)
def test_a_cold_execution_glues_the_same_values(chapter, record, isolated_cache, monkeypatch, tmp_path):
    assert not any((isolated_cache / "results").rglob("*.npz")), "the cold run's results cache is not empty"
    copy = downloaded(chapter, tmp_path / "Downloads") if chapter == DOWNLOADED else None
    assert_same(chapter, execute(chapter, isolated_cache, monkeypatch, copy), record)


@pytest.mark.parametrize("chapter", WARM)
def test_an_execution_from_the_warm_cache_glues_the_same_values(chapter, record, monkeypatch):
    cache = Path(os.environ.get("LLMGEOM_TEST_CACHE", ROOT / "_build" / "test-cache"))
    if not (cache / "results").is_dir():
        pytest.fail(f"no results cache at {cache}: run 'make test-build' first")
    before = set((cache / "results").rglob("*.npz"))
    again = execute(chapter, cache, monkeypatch)
    added = set((cache / "results").rglob("*.npz")) - before
    assert not added, f"{chapter} recomputed {len(added)} results the test build had cached: {sorted(p.name for p in added)[:5]}"
    assert_same(chapter, again, record)


def test_the_cards_page_computed_nothing_the_chapters_had_not(record):
    """The cold test build executes the cards page after the chapters; the page counts the files it added to the
    results cache (``card_added_results``): it builds its cards with the chapters' settings, so none."""
    assert record["93_reproduction_cards::card_added_results"]["text/plain"] == "0"
