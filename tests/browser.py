"""Headless Chromium for the tests that look at pages as a reader would (the site, JupyterLab).

Networking is off except loopback; without Chromium a browser test skips with one line, or fails where
``LLMGEOM_REQUIRE_BROWSER`` is set (CI installs Chromium and sets it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"


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
