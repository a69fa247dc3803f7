"""Checks on the rendered site in ``_build/html``: run after a build (``make site-check``; part of ``make test``).

Every page in ``_toc.yml`` exists, every image it shows exists, no page shows a traceback or error output, every
internal link resolves (file and anchor), and a real headless browser with no network renders the math.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag

import pytest
from browser import SCREENSHOTS, find_chromium, run_chromium
from conftest import toc_entries

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def toc_pages() -> list[str]:
    """Every document named in ``_toc.yml``, as paths without suffix."""
    return toc_entries(ROOT)


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def built_pages() -> dict[str, Path]:
    if not (HTML / "index.html").exists():
        pytest.fail("no site in _build/html: build it first (make book, or make test which builds it fresh)")
    return {page: HTML / f"{page}.html" for page in toc_pages()}


def is_external(url: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", url)) and not url.startswith("file:")


def test_every_toc_page_was_built(built_pages):
    missing = [page for page, path in built_pages.items() if not path.exists()]
    assert not missing, f"pages in _toc.yml with no HTML: {missing}"


def test_every_image_on_every_page_exists(built_pages):
    broken = []
    for page, path in built_pages.items():
        for src in parse(path).images:
            if is_external(src) or src.startswith("data:"):
                continue
            if not (path.parent / unquote(src.split("?")[0])).resolve().exists():
                broken.append(f"{page}: {src}")
    assert not broken, f"images that do not exist: {broken}"


#: notebook pages with nothing to plot, and why
NO_FIGURE = {"notebooks/94_models_and_data": "a reference page: where each input comes from, its terms and sizes"}


def test_chapters_show_their_figures(built_pages):
    for page, path in built_pages.items():
        if page.startswith("notebooks/") and page not in NO_FIGURE:
            assert parse(path).images, f"{page} shows no figure"


ERROR_MARKERS = [
    "Traceback (most recent call last)",
    'class="output traceback',
    "highlight-ipythontb",
    'class="output stderr',
    "Error in glue",
]


def test_no_page_shows_a_traceback_or_error_output(built_pages):
    found = []
    for page, path in built_pages.items():
        text = path.read_text(encoding="utf-8")
        found += [f"{page}: {marker!r}" for marker in ERROR_MARKERS if marker in text]
    assert not found, f"error output in the rendered site: {found}"


def test_markdown_tables_in_outputs_render_as_tables(built_pages):
    # a results table a cell displays as Markdown must become an HTML table, not lines of pipes and dashes
    raw = re.compile(r"\|\s*(?:-{3,}|\u2014|&#8212;|&mdash;):?\s*\|")  # Sphinx may turn --- into an em dash
    found = []
    for page, path in built_pages.items():
        text = re.sub(r"<pre.*?</pre>|<script.*?</script>", "", path.read_text(encoding="utf-8"), flags=re.S)
        if raw.search(text):
            found.append(page)
    assert not found, f"unrendered Markdown tables on: {found}"


def test_every_chapter_has_three_exercises_with_hidden_solutions(built_pages):
    short = {}
    for page, path in built_pages.items():
        if page.startswith("notebooks/0"):
            text = path.read_text(encoding="utf-8")
            exercises = text.count('<div class="exercise admonition"')
            solutions = text.count('<div class="solution dropdown admonition"')
            if exercises < 3 or solutions < exercises:
                short[page] = (exercises, solutions)
    assert not short, f"chapters with fewer than 3 exercises, or exercises without a folded solution: {short}"


#: one verdict, as the chapters' rules word it (report, "How to read a verdict"; the protocol): whole words only, so
#: "not reproduced" is not read as "reproduced", nor "unsupported" or "Reading(word='reproduced', …)" as a verdict;
#: a theorem's check (C3) reads "verified (identity)" or "not verified"
VERDICT = (r"(?:(?:not|partly) )?(?:reproduced|supported)|inconclusive|undecided|model-dependent"
           r"|verified \(identity\)|not verified")
#: C5's concentration reading, by the oracle bracket (the protocol's words)
BRACKET = r"spread|concentrated|intermediate|inconclusive|model-dependent"
#: a verdict cell: one verdict, maybe "(marginal)" and a reason after a dash or colon; or C5's two readings (either
#: "inconclusive (its control fails)" where the natural-text control fails)
VERDICT_CELL = re.compile(rf"(?P<word>{VERDICT})(?: \(marginal\))?(?:(?: —|:) [^;]+)?"
                          rf"|literal reading (?:{VERDICT})(?: \(its control fails\))?; "
                          rf"concentration reading (?:{BRACKET})(?: \(its control fails\))?")


def plain_text(fragment: str) -> str:
    """An HTML fragment as a reader reads it: tags dropped, entities decoded, white space collapsed."""
    return " ".join(html_unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def test_the_reproduction_report_has_six_glued_rows_each_with_a_block_of_key_numbers(built_pages):
    text = built_pages["book/report"].read_text(encoding="utf-8")
    table = text[text.index("<table"):text.index("</table>")]
    rows = re.findall(r"<tr.*?</tr>", table, flags=re.S)[1:]
    claims = [plain_text(re.findall(r"<td.*?</td>", row, flags=re.S)[0]) for row in rows]
    assert claims == ["C1", "C2", "C3", "C4", "C5", "C6"]
    for claim, row in zip(claims, rows):
        cells = [plain_text(c) for c in re.findall(r"<td.*?</td>", row, flags=re.S)]
        assert VERDICT_CELL.fullmatch(cells[1]), f"{claim}: no verdict pasted, or not the rules' words ({cells[1]!r})"
        assert f'href="#evidence-{claim.lower()}"' in row, f"{claim}: its row does not link to its key numbers"
        block = re.search(rf'<div[^>]*id="evidence-{claim.lower()}"[^>]*>(.*?)</div>', text, flags=re.S)
        assert block, f"{claim}: no block of key numbers"
        assert len(re.findall(r"\d", plain_text(block.group(1)))) >= 3, f"{claim}: no numbers pasted"
        assert block.group(1).count('class="pasted-text"') >= 3, f"{claim}: its values are not glued from the chapters"


def test_the_report_shows_the_verdict_each_chapter_states(built_pages):
    # the report's verdict for a claim is the one in its chapter's verdict box, word for word: "not reproduced"
    # in a chapter and "reproduced" in the report (a wrong or per-decoder key glued) is a failure
    text = built_pages["book/report"].read_text(encoding="utf-8")
    table = text[text.index("<table"):text.index("</table>")]
    report = {}
    for row in re.findall(r"<tr.*?</tr>", table, flags=re.S)[1:]:
        cells = [plain_text(c) for c in re.findall(r"<td.*?</td>", row, flags=re.S)]
        report[cells[0]] = cells[1]
    chapters = {}
    for page, path in built_pages.items():
        if page.startswith("notebooks/") and path.exists():  # a missing page fails test_every_toc_page_was_built
            page_text = path.read_text(encoding="utf-8")
            for claim, title in re.findall(r'<p class="admonition-title">Verdict on (C\d)\b[^:<]*:(.*?)</p>', page_text,
                                           flags=re.S):
                assert claim not in chapters, f"{claim} has a verdict box on two pages"
                chapters[claim] = plain_text(title)
    assert sorted(chapters) == sorted(report), f"verdict boxes {sorted(chapters)}, report rows {sorted(report)}"
    for claim, stated in chapters.items():
        assert VERDICT_CELL.fullmatch(stated), f"{claim}: the chapter's verdict box says {stated!r}"
        assert report[claim] == stated, f"{claim}: the report says {report[claim]!r}, its chapter {stated!r}"


def test_the_landing_page_shows_the_headline_figure(built_pages):
    assert parse(built_pages["book/intro"]).images, "the landing page shows no figure"


def test_every_internal_link_resolves(built_pages):
    cache: dict[Path, PageParser] = {}
    broken = []
    for page, path in built_pages.items():
        for href in parse(path).links:
            if is_external(href) or href.startswith("mailto:"):
                continue
            target, anchor = urldefrag(href)
            target_path = (path.parent / unquote(target)).resolve() if target else path
            if target_path.is_dir():
                target_path = target_path / "index.html"
            if not target_path.exists():
                broken.append(f"{page}: {href} (no file)")
                continue
            if anchor and target_path.suffix == ".html":
                parsed = cache.setdefault(target_path, parse(target_path))
                if unquote(anchor) not in parsed.ids:
                    broken.append(f"{page}: {href} (no anchor)")
    assert not broken, f"internal links that do not resolve: {broken}"


def test_math_is_served_locally(built_pages):
    text = built_pages["notebooks/01_matrix_entropy"].read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*MathJax[^"]*)"', text, flags=re.I)
    assert scripts, "chapter 1 loads no MathJax script"
    assert all(not is_external(src) for src in scripts), f"MathJax comes from the network: {scripts}"


@pytest.fixture(scope="module")
def site_url(built_pages):
    """Serve _build/html on a loopback port, as a reader's static host would (file:// blocks web fonts)."""
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


WIDTHS = {"desktop": (1280, 1800), "phone": (390, 1400)}
#: browsers at a time: a headless page load mostly waits (process start, loopback, fonts), two at a time is as fast as four here
BROWSERS = 2


def page_name(page: str) -> str:
    return page.replace("/", "__")


def browse(site_url: str, page: str, width: str, tmp_path: Path) -> dict:
    """Open one page at one width: its ``?pagecheck`` report (see book/_static/pagecheck.js) and a screenshot."""
    import json

    w, h = WIDTHS[width]
    url = f"{site_url}/{page}.html"
    profile = tmp_path / f"{page_name(page)}-{width}"
    shot = SCREENSHOTS / f"{page_name(page)}-{width}.png"
    shot.unlink(missing_ok=True)
    # one browser run: the DOM with the report (hidden, so the screenshot shows the page as a reader sees it)
    dumped = run_chromium(["--dump-dom", f"--screenshot={shot}", f"--window-size={w},{h}", f"{url}?pagecheck"], profile)
    found = re.search(r'<pre id="pagecheck-report"[^>]*>(.*?)</pre>', dumped.stdout, flags=re.S)
    report = json.loads(html_unescape(found.group(1))) if found else {"error": f"exit {dumped.returncode}, no report"}
    report["screenshot"] = str(shot) if shot.exists() else None
    report["screenshot_bytes"] = shot.stat().st_size if shot.exists() else 0
    return report


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.fixture(scope="module")
def browser_reports(site_url, built_pages, tmp_path_factory) -> dict[tuple[str, str], dict]:
    """Every page in _toc.yml at desktop and phone widths, :data:`BROWSERS` browsers at a time."""
    from concurrent.futures import ThreadPoolExecutor

    if find_chromium() is None:
        run_chromium([], tmp_path_factory.mktemp("none"))  # skips, or fails where a browser is required
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_factory.mktemp("browser")
    jobs = [(page, width) for page in built_pages for width in WIDTHS]
    with ThreadPoolExecutor(max_workers=BROWSERS) as pool:
        reports = list(pool.map(lambda job: browse(site_url, job[0], job[1], tmp), jobs))
    return dict(zip(jobs, reports))


def test_browser_screenshots_every_page_at_desktop_and_phone_widths(browser_reports):
    missing = [f"{p} ({w})" for (p, w), r in browser_reports.items() if r["screenshot_bytes"] < 10_000]
    assert not missing, f"screenshots missing or blank: {missing}"


def test_browser_ran_the_page_check_on_every_page(browser_reports):
    failed = {f"{p} ({w})": r.get("error") for (p, w), r in browser_reports.items() if "images" not in r}
    assert not failed, f"no page report (did the page load?): {failed}"


def test_browser_loaded_every_image(browser_reports):
    broken = {f"{p} ({w})": r["broken"] for (p, w), r in browser_reports.items() if r.get("broken")}
    assert not broken, f"images that did not load in the browser: {broken}"


def test_browser_rendered_the_math_offline(browser_reports):
    problems = []
    for (page, width), r in browser_reports.items():
        if r.get("math_errors"):
            problems.append(f"{page} ({width}): {r['math_errors']} MathJax errors")
        if r.get("raw_math"):
            problems.append(f"{page} ({width}): {r['raw_math']} unrendered math delimiters")
    chapter_1 = browser_reports["notebooks/01_matrix_entropy", "desktop"]
    assert chapter_1.get("math", 0) >= 20, f"MathJax rendered {chapter_1.get('math')} formulas in chapter 1"
    for page in ("notebooks/03_gaussian_theory", "notebooks/04_ridge_information_gain", "book/report"):
        if (page, "desktop") in browser_reports:
            assert browser_reports[page, "desktop"].get("math", 0) > 0, f"{page} shows no rendered math"
    assert not problems, problems


def test_no_page_is_wider_than_a_phone_screen(browser_reports):
    wide = {p: (r["page_width"], r["wide_elements"]) for (p, w), r in browser_reports.items()
            if w == "phone" and "page_width" in r and r["page_width"] > r["window_width"] + 1}
    assert not wide, f"pages that scroll sideways at phone width (page width, widest elements): {wide}"


def test_the_report_shows_every_verdict_and_its_numbers_without_sideways_scrolling(browser_reports):
    """One block of key numbers per claim, inside the window at desktop and phone widths (element positions from
    the browser), and a summary table that does not scroll; the screenshots are in _build/screenshots/."""
    for width in WIDTHS:
        report = browser_reports["book/report", width]
        blocks = report.get("evidence", [])
        assert [b["id"] for b in blocks] == [f"evidence-c{i}" for i in range(1, 7)], f"{width}: {blocks}"
        outside = [b for b in blocks if b["left"] < 0 or b["right"] > report["window_width"] or b["scrolls"] or not b["text"]]
        assert not outside, f"{width}: evidence outside the window or scrolling: {outside}"
        assert not report["scrolling_tables"], f"{width}: the report's table scrolls: {report['scrolling_tables']}"


def test_no_table_hides_a_column_behind_a_scroll_at_desktop_width(browser_reports):
    hidden = {p: r["scrolling_tables"] for (p, w), r in browser_reports.items() if w == "desktop" and r.get("scrolling_tables")}
    assert not hidden, f"tables that hide columns behind a horizontal scroll at 1280 px: {hidden}"


def test_the_models_and_data_page_links_the_licences_notice_citation_and_a_model_card(built_pages):
    page = built_pages["notebooks/94_models_and_data"]
    links = [unquote(link) for link in parse(page).links]
    for name in ("LICENSE", "LICENSE-CONTENT", "NOTICE", "CITATION.cff", "README.md"):
        (found,) = [link for link in links if "_downloads/" in link and link.endswith("/" + name)]
        assert (page.parent / found).resolve().is_file(), f"{name}: {found} is not in the built site"
    assert (page.parent / [l for l in links if l.endswith("/NOTICE")][0]).resolve().read_text().count("Gemma Terms of Use")
