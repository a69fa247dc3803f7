"""Where a chapter's time goes: execute notebooks cell by cell and print each cell's wall time.

    .venv/bin/python bench/profile_cells.py 05_lasso_attention 06_information_spread [--warm] [--top 8]

By default every notebook runs from an **empty results cache** (downloads, models and corpora shared), as in a
cold build; ``--warm`` uses the normal cache. Notebooks given together share one cache, in the order given, as
they would in a build. Prints the slowest cells with their first line; writes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(names: list[str], warm: bool, top: int) -> None:
    import jupytext
    from nbclient import NotebookClient

    from llmgeom.store.cache import empty_results_cache

    if not warm:
        os.environ["LLMGEOM_CACHE"] = str(empty_results_cache(Path(tempfile.mkdtemp(prefix="llmgeom-profile-"))))
    for name in names:
        notebook = jupytext.read(ROOT / "notebooks" / f"{name}.md")
        start = time.perf_counter()
        NotebookClient(notebook, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
        total = time.perf_counter() - start
        cells = []
        for cell in notebook.cells:
            timing = cell.get("metadata", {}).get("execution", {})
            if cell.cell_type == "code" and "iopub.execute_input" in timing and "shell.execute_reply" in timing:
                began, ended = (datetime.datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                                for k in ("iopub.execute_input", "shell.execute_reply"))
                first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith(":")), "")
                cells.append(((ended - began).total_seconds(), first[:90]))
        print(f"{name}: {total:.1f} s ({'warm' if warm else 'cold'} results cache), {len(cells)} code cells")
        for seconds, first in sorted(cells, reverse=True)[:top]:
            print(f"  {seconds:7.1f} s  {first}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="notebook names without .md, e.g. 05_lasso_attention")
    parser.add_argument("--warm", action="store_true", help="use the normal (warm) results cache")
    parser.add_argument("--top", type=int, default=8, help="how many of the slowest cells to show")
    args = parser.parse_args()
    run(args.notebooks, args.warm, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
