"""The build's Jupyter Book configuration: ``_config.yml`` plus what ``make`` decides at build time.

``python -m llmgeom.publish.siteconfig [--fresh] [--repo URL] > _build/_config.yml``

* ``--fresh`` re-executes every notebook (``execute_notebooks: force``), as ``make book-fresh`` and ``make test`` do;
* ``--repo URL`` (``make book REPO_URL=https://github.com/owner/name``; by default the ``origin`` remote when it is
  an https URL) turns on the repository, issues and source buttons and the Binder and Colab launch buttons. Without
  a URL those buttons stay off rather than point somewhere wrong; the download buttons (.md, .ipynb, .pdf) are
  always on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from llmgeom.store.paths import REPO_ROOT



def site_config(fresh: bool = False, repo: str | None = None, base: Path = REPO_ROOT / "_config.yml") -> dict:
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
        config["launch_buttons"] = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
                                    "colab_url": "https://colab.research.google.com"}
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmgeom.publish.siteconfig", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="re-execute every notebook")
    parser.add_argument("--repo", default="", help="https URL of the repository (turns on its buttons)")
    args = parser.parse_args(argv)
    try:
        config = site_config(args.fresh, args.repo)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    yaml.safe_dump(config, sys.stdout, sort_keys=False, allow_unicode=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
