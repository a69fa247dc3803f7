"""The build's Jupyter Book configuration: ``_config.yml`` plus what ``make`` decides at build time.

``python -m llmgeom.publish.siteconfig [--fresh] [--repo URL] [--base-url URL] > _build/_config.yml``

* ``--fresh`` re-executes every notebook (``execute_notebooks: force``), as ``make book-fresh`` and ``make test`` do;
* ``--repo URL`` (``make book REPO_URL=https://github.com/owner/name``; by default the ``origin`` remote when it is
  an https URL) turns on the repository, issues and source buttons and the Binder launch button (Binder builds
  ``binder/``: the CPU torch, the library, the fetched inputs, chapters opening as notebooks). Without a URL those
  buttons stay off rather than point somewhere wrong; the download buttons (.md, .ipynb, .pdf) are always on;
* ``--base-url URL`` (``make book BASE_URL=…``) sets ``html.baseurl``, the address the site is published at (its
  canonical links and sitemap); for a GitHub repository it defaults to the repository's GitHub Pages address, as
  ``.github/workflows/deploy.yml`` publishes it.

Colab is not offered: it opens a notebook from the repository by itself, without the corpora and models that
``make data`` fetches, the committed ladder, or the library, so a chapter opened there cannot run; Binder builds the
whole environment instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from llmgeom.store.paths import REPO_ROOT



def pages_url(repo: str) -> str | None:
    """The GitHub Pages address of a GitHub repository URL (``https://owner.github.io/name/``), else ``None``."""
    parts = repo.strip().removesuffix(".git").removesuffix("/").split("/")
    if len(parts) == 5 and parts[:3] == ["https:", "", "github.com"]:
        return f"https://{parts[3].lower()}.github.io/{parts[4]}/"
    return None


def site_config(fresh: bool = False, repo: str | None = None, base_url: str | None = None,
                base: Path = REPO_ROOT / "_config.yml") -> dict:
    """``_config.yml`` with the build-time settings applied (see the module docstring)."""
    config = yaml.safe_load(base.read_text(encoding="utf-8"))
    if fresh:
        config.setdefault("execute", {})["execute_notebooks"] = "force"
    repo = (repo or "").strip().removesuffix(".git")
    if repo:
        if not repo.startswith("https://"):
            raise ValueError(f"REPO_URL must be an https URL of the repository; got {repo!r}")
        config["repository"] = {"url": repo, "branch": "main", "path_to_book": ""}
        config.setdefault("html", {}).update(use_repository_button=True, use_issues_button=True)
        config["launch_buttons"] = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org"}
    base_url = (base_url or "").strip() or (pages_url(repo) if repo else None)
    if base_url:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"BASE_URL must be the http(s) address the site is published at; got {base_url!r}")
        config.setdefault("html", {})["baseurl"] = base_url.rstrip("/") + "/"
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmgeom.publish.siteconfig", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="re-execute every notebook")
    parser.add_argument("--repo", default="", help="https URL of the repository (turns on its buttons)")
    parser.add_argument("--base-url", default="", help="the address the site is published at (html.baseurl)")
    args = parser.parse_args(argv)
    try:
        config = site_config(args.fresh, args.repo, args.base_url)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    yaml.safe_dump(config, sys.stdout, sort_keys=False, allow_unicode=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
