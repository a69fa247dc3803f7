"""Checks on the rendered site in ``_build/html``: run after a build (``make site-check``; part of ``make test``).

Every page in ``_toc.yml`` exists, every image it shows exists, no page shows a traceback or error output, every
internal link resolves (file and anchor), and a real headless browser with no network renders the math.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag

import pytest
import yaml

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"


def toc_pages() -> list[str]:
    """Every document named in ``_toc.yml``, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


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


def test_chapters_show_their_figures(built_pages):
    for page, path in built_pages.items():
        if page.startswith("notebooks/"):
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


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    # networking off: every request but loopback (the local site) goes to a closed port
    "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=20000",
    "--run-all-compositor-stages-before-draw",
]


def run_chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("LLMGEOM_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (LLMGEOM_REQUIRE_BROWSER is set) but is not installed")
        pytest.skip("chromium is not installed: install Debian's 'chromium' package to run the browser checks")
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


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


def test_browser_renders_chapter_1_math_offline(site_url, tmp_path):
    page = f"{site_url}/notebooks/01_matrix_entropy.html"
    result = run_chromium(["--dump-dom", page], tmp_path)
    assert result.returncode == 0, f"chromium failed: {result.stderr[-2000:]}"
    dom = result.stdout
    rendered = len(re.findall(r'class="MathJax(?:_Display|_CHTML|_SVG)?"', dom))
    assert rendered >= 20, f"MathJax rendered {rendered} formulas in chapter 1; expected dozens"
    assert "Math Processing Error" not in dom
    assert 'id="MathJax_Message"' not in dom or "Loading" not in dom.split('id="MathJax_Message"')[1][:300]


def test_browser_screenshots_chapter_1(site_url, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "01_matrix_entropy-desktop.png"
    target.unlink(missing_ok=True)
    page = f"{site_url}/notebooks/01_matrix_entropy.html"
    result = run_chromium([f"--screenshot={target}", "--window-size=1280,2400", page], tmp_path)
    assert result.returncode == 0, f"chromium failed: {result.stderr[-2000:]}"
    assert target.exists() and target.stat().st_size > 20_000, "the screenshot is missing or blank"
