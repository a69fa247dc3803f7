"""The glossary (book/glossary.md): entries in alphabetical order, and every {term} role in the book names one."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.md"


def entries() -> list[str]:
    text = GLOSSARY.read_text(encoding="utf-8")
    body = text[text.index("```{glossary}\n") + len("```{glossary}\n"): text.rindex("```")]
    return [line for line in body.splitlines() if line and not line.startswith(" ")]


def sort_key(term: str) -> str:
    return unicodedata.normalize("NFKD", term).casefold()


def test_the_glossary_is_in_alphabetical_order():
    terms = entries()
    assert len(terms) >= 40
    out_of_order = [(a, b) for a, b in zip(terms, terms[1:]) if sort_key(a) > sort_key(b)]
    assert not out_of_order, f"entries out of alphabetical order: {out_of_order}"
    assert len(set(map(sort_key, terms))) == len(terms), "an entry appears twice"


def test_every_term_role_names_an_entry():
    known = {sort_key(t) for t in entries()}
    unknown = []
    for page in [*ROOT.glob("book/*.md"), *ROOT.glob("notebooks/*.md")]:
        for match in re.finditer(r"\{term\}`([^`]+)`", page.read_text(encoding="utf-8")):
            target = re.search(r"<([^>]+)>$", match.group(1))
            name = (target.group(1) if target else match.group(1)).strip()
            if sort_key(name) not in known:
                unknown.append(f"{page.name}: {name}")
    assert not unknown, f"{{term}} roles that name no glossary entry: {unknown}"
