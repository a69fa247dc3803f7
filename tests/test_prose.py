"""No number is typed into the book's prose (issue 23).

Numbers reach the text only through MyST-NB ``glue`` roles computed by the notebooks. This fast test reads the
MyST sources of every page named in ``_toc.yml`` (nothing is executed or built) and reports each prose line that
still holds a typed number, as ``page:line: text`` in one assertion message.

What counts as prose. Removed before looking for numbers: the YAML front matter; code (fences with no directive
or a language, ```` ```{code-cell} ```` and the other directives in ``CODE_DIRECTIVES``, indented code blocks);
``$…$``/``$$…$$`` math; inline code; every role ``{name}`…``` (glue, cite, ref, numref, doc, download, math, eq,
term, …); link targets ``](…)``, reference definitions, autolinks and bare URLs; HTML comments and tags; MyST
targets ``(label)=``; ``+++`` cell separators; heading markers and heading numbering; ordered-list markers and the
option lines (``:label: x``, ``:class:``, a ``---`` YAML block) of a directive. Kept and checked: the bodies of
every other directive (``{admonition}``, ``{note}``, ``{exercise}``, ``{solution}``, ``{prf:…}``, ``{glossary}``,
``{figure}``, …, colon fences included) and their titles, and the ``caption:`` of a code cell's figure metadata.

Digits. Any digit left is a violation unless a regular expression of the allow-list beside this file
(``prose_allowlist.txt``) matches the text around it: years, model names, claim ids, chapter numbers and a few
fixed definitions and identifiers. The list is for names, never for a measured value or a setting the notebooks
could glue; each line says why it is there, and a line ``page :: regex`` holds for that page only.

Numbers written as words. Flagging every number word would flag the book's structure ("two pretrained
decoders", "on half of the texts", "the three smallest sizes"), so the rule is deliberately narrow and aimed at
sentences that state a result. A number word — a cardinal from two to ninety, ``hundred(s)``, ``thousand(s)``,
``million(s)``, ``billion(s)``, ``dozen(s)``, ``tens``, a multiplier (``twice``, ``thrice``, ``double(d/s)``,
``triple(d/s)``, ``halved``, ``tenfold``, ``two-fold``) or a fraction (``half``, ``third``, ``quarter``) — is flagged
when

* it is followed, within two words, by a ratio or unit word (``times``, ``fold``, ``percent``, ``nats``, ``bits``,
  ``seconds``, ``minutes``, ``hours``, ``days``, ``GB``, ``orders of magnitude``, …; "hundreds of times larger",
  "about sixteen hours", "doubled its time"), or a multiplier or fraction is followed by ``as`` ("twice as fast");
* it follows an approximator (``about``, ``roughly``, ``nearly``, ``almost``, ``around``, ``approximately``,
  ``some``: "roughly ten"; not ``more than``, which states the book's rules: "more than half"); or
* it follows a verb of change and ``by`` ("falls by two", "differ by a third");
* a ``…fold`` word (``tenfold``, ``two-fold``; not ``manifold``) always.

``one`` and the ordinals (``first``, ``second``) are never flagged: they are articles, pronouns and positions far
more often than results. Settings written as words ("at least two training seeds") are not flagged either: they
are structure at the level this test can see. What this does not see — a result in words with none of these
neighbours ("the loss is two nats lower" is caught, "the exponent is two" is not) — is left to review.

The test carries no marker, so the fast part of ``make test`` (``make test-fast``: ``-m "not site and not
determinism"``) runs it; ``python tests/test_prose.py`` prints the violations one a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conftest import toc_entries

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = Path(__file__).with_name("prose_allowlist.txt")

# Directives whose body (and argument, and options) is not prose: code, math, data, machinery.
CODE_DIRECTIVES = {
    "code-cell", "code", "code-block", "sourcecode", "literalinclude", "math", "raw", "eval-rst", "jupyter-execute",
    "ipython", "glue", "glue:any", "glue:md", "glue:math", "glue:text", "bibliography", "toctree",
    "tableofcontents", "include", "image", "mermaid", "csv-table",
}
# Prose directives whose argument is a label or a path, not a title.
LABEL_ARGUMENT = {"solution", "figure", "glue:figure", "image"}


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page of the book, as a path relative to the root with its suffix, in table-of-contents order."""
    files = toc_entries(root)
    pages = []
    for f in files:
        path = next((root / (f + s) for s in ("", ".md", ".ipynb") if (root / (f + s)).is_file()), root / (f + ".md"))
        pages.append(path.relative_to(root).as_posix())
    return pages


# ---------------------------------------------------------------------------------------------------------------
# Masking: every character that is not prose becomes a space; newlines stay, so line numbers stay.

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})\s*(?:\{(?P<name>[^}\s]+)\})?\s*(?P<arg>.*?)\s*$")


def _blank(s: str) -> str:
    return re.sub(r"[^\n]", " ", s)


@dataclass
class _Open:
    char: str
    length: int
    code: bool
    name: str
    options: bool = True  # still at the top of the body, where option lines may come
    yaml: bool = False    # inside a ``---`` option block
    caption_indent: int = -1  # inside a YAML ``caption:`` value (code-cell figure metadata)


def _closes(line: str, top: _Open) -> bool:
    s = line.strip()
    return len(s) >= top.length and set(s) == {top.char}


def _mask_lines(text: str) -> list[str]:
    """Block structure: code, front matter, options and markers blanked, line by line."""
    lines = text.split("\n")
    out = list(lines)
    i = 0
    if lines and lines[0].strip() == "---":
        for j in range(1, len(lines)):
            if lines[j].strip() == "---":
                for k in range(j + 1):
                    out[k] = ""
                i = j + 1
                break
    stack: list[_Open] = []
    list_base = 0   # content column of the current list item, for indented code
    in_indented_code = False
    prev_blank = True
    for n in range(i, len(lines)):
        line = lines[n]
        s = line.strip()
        top = stack[-1] if stack else None
        if top is not None and top.code:
            if _closes(line, top):
                stack.pop()
                out[n] = ""
                continue
            out[n] = ""
            # A code cell's figure caption is prose.
            if top.options and s == "---" and not top.yaml:
                top.yaml = True
            elif top.yaml:
                if s == "---":
                    top.yaml, top.options = False, False
                else:
                    indent = len(line) - len(line.lstrip())
                    m = re.match(r"^(\s*)caption:\s?(.*)$", line)
                    if m:
                        top.caption_indent = len(m.group(1))
                        out[n] = " " * (len(line) - len(m.group(2))) + m.group(2)
                    elif top.caption_indent >= 0 and s and indent > top.caption_indent:
                        out[n] = line
                    else:
                        top.caption_indent = -1
            else:
                top.options = False
            continue
        # Prose context (top level or a prose directive's body).
        if top is not None and _closes(line, top):
            stack.pop()
            out[n] = ""
            prev_blank = True
            continue
        m = FENCE.match(line)
        if m:
            fence, name, arg = m.group("fence"), m.group("name") or "", m.group("arg")
            is_code = (fence[0] in "`~" and not name) or name in CODE_DIRECTIVES
            stack.append(_Open(fence[0], len(fence), is_code, name))
            if is_code or name in LABEL_ARGUMENT:
                out[n] = ""
            else:
                out[n] = " " * (len(line) - len(arg)) + arg if arg else ""
            prev_blank, in_indented_code = True, False
            continue
        if top is not None and top.options:
            if top.yaml:
                if s == "---":
                    top.yaml, top.options = False, False
                out[n] = ""
                continue
            if s == "---":
                top.yaml = True
                out[n] = ""
                continue
            if re.match(r"^\s*:[\w-]+:", line):
                out[n] = ""
                continue
            top.options = False
        if not s:
            prev_blank = True
            out[n] = ""
            continue
        indent = len(line) - len(line.lstrip())
        if (prev_blank or in_indented_code) and indent >= list_base + 4:
            in_indented_code = True
            out[n] = ""
            prev_blank = False
            continue
        in_indented_code = False
        prev_blank = False
        if s.startswith("+++") or re.match(r"^\(\S+\)=$", s):
            out[n] = ""
            continue
        item = re.match(r"^(\s*)(?:[-*+]|(\d+)[.)])(\s+)", line)
        if item:
            list_base = len(item.group(0))
            if item.group(2):  # an ordered-list marker is structure, not a number
                out[n] = " " * len(item.group(0)) + line[len(item.group(0)):]
            continue
        if indent == 0 and not line.startswith("|"):
            list_base = 0
        h = re.match(r"^(\s*#{1,6}\s+)(\d+(?:\.\d+)*\.?\s+)?", line)
        if h:
            out[n] = " " * len(h.group(0)) + line[len(h.group(0)):]
    return out


INLINE = [
    re.compile(r"<!--.*?-->", re.S),                                   # HTML comments
    re.compile(r"\$\$.+?\$\$", re.S),                                   # display math
    re.compile(r"\{[\w:.+-]+\}(`+)(?:(?!\1).)+?\1", re.S),              # roles: glue, cite, ref, numref, math, …
    re.compile(r"(`+)(?:(?!\1)[^\n]|\n(?!\s*\n))+?\1"),                 # inline code
    re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\\n]|\n(?!\s*\n))+?\$"),  # inline math
    re.compile(r"\\\((?:.|\n(?!\s*\n))+?\\\)"),                         # \( … \) math
    re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))*\)"),                     # link and image targets
    re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M),                      # reference definitions
    re.compile(r"<(?:https?|mailto|ftp):[^>\s]+>"),                     # autolinks
    re.compile(r"\b(?:https?|ftp)://\S+"),                              # bare URLs
    re.compile(r"</?[A-Za-z][^<>\n]*>"),                                # HTML tags
    re.compile(r"\[\^[^\]\s]+\]"),                                      # footnote references
    re.compile(r"\{\{.*?\}\}"),                                         # substitutions
]


def prose_lines(text: str) -> list[str]:
    """The page's lines with everything that is not prose replaced by spaces (same line count)."""
    masked = "\n".join(_mask_lines(text))
    for pattern in INLINE:
        masked = pattern.sub(lambda m: _blank(m.group(0)), masked)
    return masked.split("\n")


# ---------------------------------------------------------------------------------------------------------------
# The allow-list and the number words.

@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern
    reason: str
    page: str | None
    source_line: int


def load_allowlist(path: Path = ALLOWLIST) -> list[Rule]:
    """One rule a line: ``regex  # why`` or ``page/path.md :: regex  # why``; blank lines and ``#`` lines are
    comments. The reason after ``  # `` (two spaces) is required."""
    rules = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        body, sep, reason = raw.partition("  # ")
        if not sep or not reason.strip():
            raise ValueError(f"{path.name}:{n}: every rule needs a reason after '  # ': {raw!r}")
        page = None
        if " :: " in body:
            page, body = (part.strip() for part in body.split(" :: ", 1))
        rules.append(Rule(re.compile(body.strip()), reason.strip(), page, n))
    return rules


_CARDINALS = ("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
              "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety").split()
_MAGNITUDES = "hundreds? thousands? millions? billions? dozens? tens".split()
_MULTIPLIERS = "twice thrice double[sd]? triple[sd]? halved half third quarter".split()
FOLD = r"(?:%s|hundred|thousand|million)-?fold" % "|".join(_CARDINALS)  # not "manifold"
NUMBER_WORD = r"(?:%s|(?:%s)(?:-(?:%s))?|%s|%s)" % (
    FOLD, "|".join(_CARDINALS), "|".join(_CARDINALS + ["one"]), "|".join(_MAGNITUDES), "|".join(_MULTIPLIERS))
UNIT_WORD = (r"(?:times|fold|percent|per\s+cent|percentage|nats?|bits?|bytes?|[KMGT]i?B|seconds?|minutes?|hours?"
             r"|days?|weeks?|months?|years?|ms|orders?\s+of\s+magnitude|time)")
APPROXIMATOR = r"(?:about|roughly|nearly|almost|around|approximately|some)"
CHANGE_BY = r"(?:\w+(?:s|ed)|fell|rose|grew|shrank)\s+by(?:\s+a)?"
NUMBER_WORD_RESULT = re.compile(
    rf"\b(?:{NUMBER_WORD}\b(?:\W+\w+){{0,2}}?\W+{UNIT_WORD}\b"
    rf"|(?:twice|thrice|half|third|quarter|double|triple)\s+as\b"
    rf"|{APPROXIMATOR}\s+{NUMBER_WORD}\b"
    rf"|{CHANGE_BY}\s+{NUMBER_WORD}\b"
    rf"|{FOLD}\b)",
    re.I,
)


@dataclass(frozen=True)
class Violation:
    page: str
    line: int
    text: str
    found: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text.strip()}   <- {', '.join(self.found)}"


def find_violations(page: str, text: str, rules: list[Rule]) -> list[Violation]:
    """Every prose line of ``text`` (the source of ``page``) holding a typed number the allow-list does not name."""
    found = []
    original = text.split("\n")
    for n, prose in enumerate(prose_lines(text)):
        if not prose.strip():
            continue
        kept = prose
        for rule in rules:
            if rule.page is None or rule.page == page:
                kept = rule.pattern.sub(lambda m: _blank(m.group(0)), kept)
        hits = [m.group(0) for m in re.finditer(r"[\w.,%×/-]*\d[\w.,%×/-]*", kept)]
        hits = [h.strip(".,") for h in hits if any(c.isdigit() for c in h)]
        hits += [m.group(0) for m in NUMBER_WORD_RESULT.finditer(prose)]
        if hits:
            found.append(Violation(page, n + 1, original[n], tuple(hits)))
    return found


def book_violations(root: Path = ROOT) -> list[Violation]:
    rules = load_allowlist()
    out = []
    for page in toc_pages(root):
        out += find_violations(page, (root / page).read_text(encoding="utf-8"), rules)
    return out


# ---------------------------------------------------------------------------------------------------------------

def test_no_typed_numbers_in_the_prose_of_any_page():
    violations = book_violations()
    assert len(violations) == 0, (
        f"{len(violations)} prose line(s) hold a typed number; glue it from its notebook, reword, or (for a name, "
        "never a value or a setting) add a justified rule to tests/prose_allowlist.txt:\n"
        + "\n".join(map(str, violations)))


PLANTED_PAGE = "book/report.md"


def test_a_planted_typed_number_is_flagged_and_its_glued_form_is_not():
    rules = load_allowlist()
    text = (ROOT / PLANTED_PAGE).read_text(encoding="utf-8")
    assert not [v for v in find_violations(PLANTED_PAGE, text, rules) if "nats" in v.text]
    lines = text.split("\n")
    at = len(lines) - 1
    typed = "Training for longer, the loss falls by 0.37 nats per token."
    glued = "Training for longer, the loss falls by {glue:text}`../notebooks/91_model_ladder.md::lad_b:.2f` nats per token."
    worded = "Training for longer, the run took about sixteen hours and the loss fell by half."
    for planted, expect in ((typed, ("0.37",)), (glued, ()), (worded, ("about sixteen", "by half"))):
        copy = "\n".join(lines[:at] + ["", planted, ""] + lines[at:])
        hits = [v for v in find_violations(PLANTED_PAGE, copy, rules) if v.text == planted]
        if expect:
            assert len(hits) == 1 and hits[0].line == at + 2, hits
            for e in expect:
                assert any(e.lower() in f.lower() for f in hits[0].found), (e, hits[0].found)
        else:
            assert hits == [], hits
    # The same number is prose in a directive's body, and not in code or math.
    for block, flagged in ((f":::{{admonition}} Verdict\n{typed}\n:::", True),
                           (f"```{{exercise}}\n:label: ex-planted\n\n{typed}\n```", True),
                           (f"```{{code-cell}} ipython3\n---\nmystnb:\n  figure:\n    caption: {typed}\n---\nx = 1\n```", True),
                           (f"```{{code-cell}} ipython3\nprint('{typed}')\n```", False),
                           ("The loss falls by $0.37$ nats and by `0.37` in the code.", False)):
        copy = "\n".join(lines + ["", block, ""])
        new = [v for v in find_violations(PLANTED_PAGE, copy, rules) if v.line > len(lines)]
        assert bool(new) == flagged, (block, new)


def test_every_allowlist_rule_has_a_reason_and_names_a_page_that_exists():
    rules = load_allowlist()
    pages = set(toc_pages())
    assert rules
    for rule in rules:
        assert rule.reason
        assert rule.page is None or rule.page in pages, f"prose_allowlist.txt:{rule.source_line}: no page {rule.page}"


if __name__ == "__main__":  # python tests/test_prose.py: the violations, one a line
    for v in book_violations():
        print(v)


def test_the_readme_and_the_intro_name_each_thing_one_way_and_agree_with_the_code():
    """The README's prose (its code blocks aside) and the landing page: one name for the companion work, the
    instruct model by its full name, no promise that nothing but PyPI is downloaded, and the facts a newcomer needs
    before the first command (the Debian corpora, the quantisation, the Gemma terms and their opt-out, the licences)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme_prose = re.sub(r"```.*?```", "", readme, flags=re.S)
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    for name, text in [("README.md", readme_prose), ("book/intro.md", intro)]:
        assert not re.search(r"\bsibling\b", text, flags=re.I), f"{name}: the companion work is 'the companion paper'"
        assert not re.search(r"SmolLM2-135M(?!-Instruct)", text), f"{name}: the model is SmolLM2-135M-Instruct"
        assert "nothing else is downloaded" not in text.lower(), f"{name}: two corpora come from Debian packages"
    for fact in ["apt-get", "Debian", "4-bit", "LLMGEOM_SECOND_DECODER", "Gemma Terms of Use", "LICENSE-CONTENT",
                 "CITATION.cff", "download.pytorch.org/whl/cpu"]:
        assert fact in readme_prose or fact in readme, f"README.md never mentions {fact!r}"
