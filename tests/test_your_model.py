"""The "Run it on your model" page: one setting per notebook, and the code path it describes, on a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL_CHAPTERS = ["02_entropy_vs_size", "04_ridge_information_gain", "05_lasso_attention", "06_information_spread",
                  "07_sentence_geometry"]


DEFAULT_MODEL = "smollm2-135m"
#: the names the first cell binds from the setting; the rest of a chapter must use them, never its own choice
SETTING_NAMES = {"PRETRAINED", "SECOND_DECODER", "MODELS"}


def code_cells(chapter: str) -> list[str]:
    """The chapter's code cells, as Jupyter sees them (jupytext parses the MyST notebook)."""
    import jupytext

    notebook = jupytext.read(ROOT / "notebooks" / f"{chapter}.md")
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def first_code_cell(chapter: str) -> str:
    cells = code_cells(chapter)
    return cells[0] if cells else ""


def run_first_cell(chapter: str, monkeypatch, model: str | None) -> dict:
    """Execute only the chapter's first cell (constants, no model) with LLMGEOM_MODEL set to ``model`` or unset."""
    if model is None:
        monkeypatch.delenv("LLMGEOM_MODEL", raising=False)
    else:
        monkeypatch.setenv("LLMGEOM_MODEL", model)
    namespace: dict = {}
    exec(compile(first_code_cell(chapter), f"<{chapter}: first cell>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_every_model_chapter_reads_the_one_setting_in_its_first_cell(chapter, monkeypatch, tmp_path):
    import ast

    reader = str(tmp_path / "the-readers-model")
    mine = run_first_cell(chapter, monkeypatch, reader)
    assert mine["PRETRAINED"] == reader, f"{chapter} ignores LLMGEOM_MODEL: it runs {mine['PRETRAINED']!r}"
    assert mine["SECOND_DECODER"] != reader
    if "MODELS" in mine:
        assert mine["MODELS"][:2] == [reader, mine["SECOND_DECODER"]], "the reader's model must come first"
    assert run_first_cell(chapter, monkeypatch, None)["PRETRAINED"] == DEFAULT_MODEL  # unset: the book's model
    # the comparison decoder is never the reader's own, whichever of the book's two the reader picks
    for model in (DEFAULT_MODEL, "gemma-3-270m"):
        chosen = run_first_cell(chapter, monkeypatch, model)
        assert chosen["PRETRAINED"] == model and chosen["SECOND_DECODER"] != model

    # the rest of the chapter runs what the first cell chose: it reads the names, never rebinds them, and calls
    # nothing with the default model's name (a load("smollm2-135m") would ignore the setting)
    reads, rebinds, literal_calls = set(), [], []
    for number, source in enumerate(code_cells(chapter)[1:], start=2):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Name) and node.id in SETTING_NAMES:
                if isinstance(node.ctx, ast.Load):
                    reads.add(node.id)
                else:
                    rebinds.append(f"cell {number}: {node.id}")
            if isinstance(node, ast.Call):
                arguments = [n for a in [*node.args, *(k.value for k in node.keywords)] for n in ast.walk(a)]
                if any(isinstance(a, ast.Constant) and a.value == DEFAULT_MODEL for a in arguments):
                    literal_calls.append(f"cell {number}: {ast.unparse(node)[:80]}")
    assert reads & {"PRETRAINED", "MODELS"}, f"{chapter} never uses the model its first cell chose"
    assert not rebinds, f"{chapter} overrides the setting later: {rebinds}"
    assert not literal_calls, f"{chapter} names the default model instead of the setting: {literal_calls}"


def test_the_page_lists_exactly_the_chapters_that_take_a_model():
    page = (ROOT / "book" / "your_model.md").read_text(encoding="utf-8")
    for chapter in MODEL_CHAPTERS:
        assert f"notebooks/{chapter}" in page, f"{chapter} is missing from the page"
    others = [p.stem for p in (ROOT / "notebooks").glob("*.md") if p.stem not in MODEL_CHAPTERS]
    for chapter in others:
        assert "LLMGEOM_MODEL" not in first_code_cell(chapter), f"{chapter} reads LLMGEOM_MODEL but is not listed"


def test_device_and_dtype_come_from_the_environment(tiny_model_dir, monkeypatch):
    from llmgeom.models.loading import load
    from llmgeom.store.fetch import ModelUnavailable

    monkeypatch.setenv("LLMGEOM_DEVICE", "cpu")
    monkeypatch.setenv("LLMGEOM_DTYPE", "float64")
    loaded = load(str(tiny_model_dir))
    parameter = next(loaded.model.parameters())
    assert parameter.dtype == torch.float64 and parameter.device.type == "cpu"
    monkeypatch.setenv("LLMGEOM_DTYPE", "cuda")
    with pytest.raises(ModelUnavailable, match="not a torch dtype"):
        load(str(tiny_model_dir))
    monkeypatch.setenv("LLMGEOM_DTYPE", "float32")
    monkeypatch.setenv("LLMGEOM_DEVICE", "nosuchdevice")
    with pytest.raises(ModelUnavailable, match="cannot move"):
        load(str(tiny_model_dir))


def test_chapter_4_runs_on_a_local_model_given_by_the_setting(tiny_long_model_dir, monkeypatch):
    """The page's recipe, end to end: LLMGEOM_MODEL=<folder>, then execute the chapter's notebook."""
    import jupytext
    from nbclient import NotebookClient

    from llmgeom.publish.glued import from_notebook

    monkeypatch.setenv("LLMGEOM_MODEL", str(tiny_long_model_dir))
    notebook = jupytext.read(ROOT / "notebooks" / "04_ridge_information_gain.md")
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    glued = {name.split("::")[1] for name in from_notebook(notebook, "04")}
    assert {"ch4_verdict", "ch4_max_rel_error", "ch4_power_b"} <= glued
    shown = "".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert str(tiny_long_model_dir) in shown, "the verification table does not name the reader's model"
