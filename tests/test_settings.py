"""One source each for the book's decoders, their display names and the token selectors' labels (issue 31)."""

from __future__ import annotations

from llmgeom.experiments import selection, selectors, spread, tokenselect
from llmgeom.experiments.settings import book_decoders, display_name


def test_the_book_decoders_are_yours_first_then_a_base_model_of_another_family(monkeypatch):
    monkeypatch.delenv("LLMGEOM_MODEL", raising=False)
    assert book_decoders() == ("smollm2-135m", "gemma-3-270m")
    monkeypatch.setenv("LLMGEOM_MODEL", "gemma-3-270m")
    assert book_decoders() == ("gemma-3-270m", "smollm2-135m")
    monkeypatch.setenv("LLMGEOM_MODEL", "/models/mine")
    assert book_decoders() == ("/models/mine", "gemma-3-270m")


def test_a_reader_who_declines_the_gemma_terms_names_another_second_decoder(monkeypatch):
    import pytest

    monkeypatch.delenv("LLMGEOM_MODEL", raising=False)
    monkeypatch.setenv("LLMGEOM_SECOND_DECODER", "ladder-w384-l6")
    assert book_decoders() == ("smollm2-135m", "ladder-w384-l6")
    monkeypatch.setenv("LLMGEOM_SECOND_DECODER", "smollm2-135m")
    with pytest.raises(ValueError, match="must differ"):
        book_decoders()


def test_a_built_in_model_has_a_short_name_and_any_other_keeps_its_own():
    assert [display_name(m) for m in ("smollm2-135m", "gemma-3-270m", "org/model")] == ["SmolLM2", "Gemma-3-270M",
                                                                                      "org/model"]


def test_every_chapters_selectors_are_labels_of_the_one_list():
    labels = {value for name, value in vars(selectors).items() if name.isupper() and isinstance(value, str)}
    for chosen in (selection.SELECTORS, tokenselect.SELECTORS, spread.SELECTORS, spread.MEANINGFUL,
                   (tokenselect.PRIMARY, tokenselect.VARIANT, tokenselect.REFERENCE)):
        assert set(chosen) <= labels, set(chosen) - labels
    assert selectors.head_of(selectors.single_head(3)) == 3
    assert selectors.head_of(selectors.HEAD_MEAN) is None and selectors.head_of("attention (head x)") is None
