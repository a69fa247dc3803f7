"""What every benchmark record says about where it was measured: date, commit, CPU, threads, library versions."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import time
from importlib import metadata
from pathlib import Path

from llmgeom.publish.glued import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def machine_info() -> dict:
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    versions = {}
    for package in ("torch", "transformers", "numpy", "scikit-learn", "jupyter-book", "myst-nb", "llmgeom"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit or None,
        "uncommitted_changes": dirty,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_rate(size: int = 2048, repeats: int = 5) -> float:
    """This CPU's float32 matrix-multiply rate in GFLOP/s (a 2048³ GEMM, median of ``repeats``): the yardstick
    every recorded time is read against, since machines of the same kind differ."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    return 2 * size**3 / median_seconds(lambda: torch.mm(a, b), repeats) / 1e9
