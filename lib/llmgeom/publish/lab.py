"""``make lab``: JupyterLab on the book's notebooks, with the MyST ``.md`` chapters opening as notebooks.

``python -m llmgeom.publish.lab [--port 8888] [--no-browser]``

* jupytext's server extension (installed with ``jupytext``) reads and saves the ``.md`` chapters as notebooks, and
  :func:`write_overrides` makes "Jupytext Notebook" the default viewer for Markdown and MyST files in this
  environment (``<venv>/share/jupyter/lab/settings/overrides.json``), so a double click opens a chapter as a
  notebook, and saving writes the ``.md`` file back (outputs are not stored in it);
* nothing is fetched at run time: no announcements feed, no update check, a read-only extension manager;
* one port, no silent fallback to another: a port in use is one line saying which to pick instead.

A chapter reads its model from ``LLMGEOM_MODEL`` (see "Run it on your model"): start Lab with it set
(``LLMGEOM_MODEL=EleutherAI/pythia-70m make lab``), or edit the chapter's first cell.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from llmgeom.store.paths import REPO_ROOT

#: the default viewers that open text notebooks as notebooks (jupytext's own name for its viewer)
VIEWERS = {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
OFFLINE = ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]


def overrides_path(prefix: Path | None = None) -> Path:
    """Where JupyterLab reads this environment's default settings."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def write_overrides(prefix: Path | None = None) -> Path:
    """Make Markdown and MyST files open as Jupytext notebooks in this environment, and keep Lab from asking to
    fetch news (other settings kept)."""
    path = overrides_path(prefix)
    settings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    plugin = settings.setdefault("@jupyterlab/docmanager-extension:plugin", {})
    plugin.setdefault("defaultViewers", {}).update(VIEWERS)
    # offline: no prompt to fetch Jupyter news, no update check (the server side is off too, see OFFLINE)
    settings.setdefault("@jupyterlab/apputils-extension:notification", {}).update(fetchNews="false",
                                                                                   checkForUpdates=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return path


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def lab_command(port: int, open_browser: bool = True) -> list[str]:
    """The ``jupyter lab`` command line: the repository as root, opened on the notebooks folder."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={REPO_ROOT}", f"--port={port}",
               "--ServerApp.port_retries=0", "--ip=127.0.0.1", *OFFLINE,
               "--LabApp.default_url=/lab/tree/notebooks"]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses it by default
        command.append("--allow-root")
    return command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmgeom.publish.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAB_PORT", 8888)))
    parser.add_argument("--no-browser", action="store_true", help="print the address instead of opening a browser")
    args = parser.parse_args(argv)
    try:
        import jupyterlab  # noqa: F401
        import jupytext  # noqa: F401
    except ImportError as err:
        print(f"error: {err.name} is not installed in this environment: run 'make setup' first", file=sys.stderr)
        return 2
    if not 1 <= args.port <= 65535:
        print(f"error: --port must be between 1 and 65535; got {args.port}", file=sys.stderr)
        return 2
    if port_in_use(args.port):
        print(f"error: port {args.port} is in use (another Jupyter?); choose another: make lab LAB_PORT={args.port + 1}",
              file=sys.stderr)
        return 2
    write_overrides()
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and not args.no_browser:
        print("no display here: open the address JupyterLab prints below in a browser", file=sys.stderr)
    os.chdir(REPO_ROOT)
    os.execv(sys.executable, lab_command(args.port, open_browser=not (args.no_browser or headless)))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
