"""The one repository root, for every module that reads or writes beside the library's source.

``REPO_ROOT`` is the checkout this library was installed from (``lib/llmgeom/`` lies two levels below it);
``IN_CHECKOUT`` says whether it is one (an installed wheel has no ``pyproject.toml`` there), and the modules that
need a checkout (the cache's default folder, the committed ladder, the book's build) fall back or say so.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""``lib/llmgeom``: the package's own folder (every source file lies under it)."""
REPO_ROOT = PACKAGE_DIR.parents[1]
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").exists() and (REPO_ROOT / "lib" / "llmgeom").is_dir()
