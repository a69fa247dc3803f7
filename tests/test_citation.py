"""CITATION.cff: valid Citation File Format 1.2.0, the library's version, and the paper as its reference."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import llmgeom

ROOT = Path(__file__).resolve().parents[1]


def test_the_citation_file_names_the_book_its_version_licence_and_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "license", "type"):
        assert cff.get(key), f"CITATION.cff needs {key!r}"
    assert cff["type"] in {"software", "dataset"}
    assert all(("name" in a) or ("family-names" in a) for a in cff["authors"])
    assert str(cff["version"]) == llmgeom.__version__, "CITATION.cff's version must follow the library's"
    assert cff["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    (paper,) = [r for r in cff["references"] if "2402.03471" in r["url"]]
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entry = bib[bib.index("@article{tan2024information"):].split("\n}\n")[0]
    assert paper["title"] in entry and str(paper["year"]) in entry
    assert [a["family-names"] for a in paper["authors"]] == re.findall(r"(\w+), \w+", entry.split("author")[1].split("\n")[0])


def test_the_text_and_figures_carry_a_licence_of_their_own():
    text = (ROOT / "LICENSE-CONTENT").read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0" in text


def test_the_package_metadata_carries_the_licence_as_an_spdx_expression():
    import importlib.metadata
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT" and project["project"]["license-files"] == ["LICENSE"]
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == "setuptools>=77", "an SPDX license string needs setuptools 77 or later (PEP 639)"
    assert importlib.metadata.metadata("llmgeom")["License-Expression"] == "MIT"
