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


# ---------------------------------------------------------------------------------------------------------------
# Every chapter links each glossary term on its first use in its prose (issue 35).

from test_prose import FENCE, prose_lines  # noqa: E402  (the prose test's masking: code, math, roles, …)

CHAPTERS = sorted(ROOT.glob("notebooks/0[1-7]_*.md"))
#: how an entry is named in running text, where that is not the entry without its parenthesis
ALIASES = {
    "Effective rank (eRank)": ["effective rank", "eRank"],
    "Masking (removal by)": ["masking"],
    "Coefficient of determination (R²)": ["coefficient of determination"],
    "Singular value decomposition (SVD)": ["singular value decomposition", "SVD"],
    "Spectral decay (α)": ["spectral decay"],
}


def phrases(entry: str) -> list[str]:
    return ALIASES.get(entry, [re.sub(r"\s*\(.*\)$", "", entry)])


def phrase_pattern(phrase: str) -> re.Pattern:
    """The phrase as a whole word (plural allowed); case-sensitive when it has capitals past its first letter
    (BOS, AUROC, eRank), so that a word is not read as an acronym."""
    flags = 0 if any(c.isupper() for c in phrase[1:]) else re.IGNORECASE
    return re.compile(rf"(?<![\w-]){re.escape(phrase)}(?:s|es)?(?![\w-])", flags)


def linkable_lines(text: str) -> list[str]:
    """The page's running prose: what the prose test reads, less headings, directive lines and code cells' captions."""
    masked = prose_lines(text)
    raw = text.split("\n")
    in_cell = False
    for n, line in enumerate(raw):
        fence = FENCE.match(line)
        if fence and fence.group("name") == "code-cell":
            in_cell = True
        elif in_cell and line.strip().startswith("```"):
            in_cell = False
            masked[n] = ""
        if in_cell or line.lstrip().startswith("#") or fence:
            masked[n] = ""
    return masked


def first_uses(text: str, entry: str) -> tuple[tuple[int, int, int] | None, tuple[int, int] | None]:
    """``((line, column, length) of the first unlinked use, (line, column) of the first {term} role naming it)``."""
    lines, raw = linkable_lines(text), text.split("\n")
    plain = None
    for n, line in enumerate(lines):
        hits = [m for p in phrases(entry) for m in phrase_pattern(p).finditer(line)]
        if hits:
            m = min(hits, key=lambda m: m.start())
            plain = (n, m.start(), m.end() - m.start())
            break
    role = None
    target = re.compile(r"\{term\}`(?:[^`<]*<" + re.escape(entry) + r">|" + re.escape(entry) + r")`")
    for n, line in enumerate(raw):
        m = target.search(line)
        if m and not line.lstrip().startswith("#"):
            role = (n, m.start())
            break
    return plain, role


def unlinked_first_uses(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    out = []
    for entry in entries():
        plain, role = first_uses(text, entry)
        if plain and (role is None or role > plain[:2]):
            out.append(f"{page.name}:{plain[0] + 1}: {entry!r}")
    return out


def test_every_chapter_links_each_glossary_term_on_its_first_use():
    missing = [hit for page in CHAPTERS for hit in unlinked_first_uses(page)]
    assert not missing, "first uses not linked to the glossary ({term}`text <Entry>`):\n" + "\n".join(missing)


def test_a_first_use_without_its_link_is_found(tmp_path):
    page = tmp_path / "01_x.md"
    page.write_text("# Attention sinks\n\nThe attention sink of a model.\n\nAnother {term}`attention sink <Attention sink>`.\n")
    assert unlinked_first_uses(page) == ["01_x.md:3: 'Attention sink'"]
    page.write_text("The {term}`attention sink <Attention sink>` first, then the attention sink again.\n"
                    "```{code-cell} ipython3\nattention sink in code\n```\n")
    assert unlinked_first_uses(page) == []
