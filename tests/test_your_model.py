"""The "Run it on your model" page: one setting per notebook, and the code path it describes, on a tiny model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL_CHAPTERS = ["02_entropy_vs_size", "04_ridge_information_gain", "05_lasso_attention", "06_information_spread",
                  "07_sentence_geometry"]


def first_code_cell(chapter: str) -> str:
    text = (ROOT / "notebooks" / f"{chapter}.md").read_text(encoding="utf-8")
    return re.search(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S).group(1)


@pytest.mark.parametrize("chapter", MODEL_CHAPTERS)
def test_every_model_chapter_reads_the_one_setting_in_its_first_cell(chapter):
    assert 'os.environ.get("LLMGEOM_MODEL", "smollm2-135m")' in first_code_cell(chapter)


def test_the_page_lists_exactly_the_chapters_that_take_a_model():
    page = (ROOT / "book" / "your_model.md").read_text(encoding="utf-8")
    for chapter in MODEL_CHAPTERS:
        assert f"notebooks/{chapter}" in page, f"{chapter} is missing from the page"
    others = [p.stem for p in (ROOT / "notebooks").glob("*.md") if p.stem not in MODEL_CHAPTERS]
    for chapter in others:
        assert "LLMGEOM_MODEL" not in first_code_cell(chapter), f"{chapter} reads LLMGEOM_MODEL but is not listed"


def test_device_and_dtype_come_from_the_environment(tiny_model_dir, monkeypatch):
    from llmgeom.models import ModelUnavailable, load

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

    from llmgeom.glued import from_notebook

    monkeypatch.setenv("LLMGEOM_MODEL", str(tiny_long_model_dir))
    notebook = jupytext.read(ROOT / "notebooks" / "04_ridge_information_gain.md")
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    glued = {name.split("::")[1] for name in from_notebook(notebook, "04")}
    assert {"c4_verdict", "c4_max_rel_error", "c4_power_b"} <= glued
    shown = "".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert str(tiny_long_model_dir) in shown, "the verification table does not name the reader's model"
