"""`make bench-build`: how long the book takes to build, cold and cached; writes _build/bench/build.json.

* **cold** — after `make setup` and `make data`: an empty execution cache and an empty results cache (the
  downloaded models and corpora are kept, as after `make data`), so every notebook executes from scratch;
* **cached** — the same build again with nothing changed: every notebook's outputs come from the execution cache.

Both run the strict build of `make book` (warnings are errors) into `_build/bench/site`, so the reader's
`_build/html` is left alone. Per-notebook execution times are parsed from MyST-NB's log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine_info  # noqa: E402

from llmgeom.cache import cache_root  # noqa: E402
from llmgeom.siteconfig import site_config  # noqa: E402

WORK = ROOT / "_build" / "bench"
LATEST = ROOT / "bench" / "latest"
FLAGS = ["-W", "-n", "--keep-going", "--all", "--builder", "html"]


def build(config: Path, env: dict) -> tuple[float, dict[str, float], int]:
    command = [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(ROOT), "--config", str(config),
               "--path-output", str(WORK / "site"), *FLAGS]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    executed = {Path(m.group(1)).stem: float(m.group(2))
                for m in re.finditer(r"(\S+\.md): Executed notebook in ([\d.]+) seconds", run.stdout + run.stderr)}
    if run.returncode:
        print((run.stdout + run.stderr)[-3000:], file=sys.stderr)
    return seconds, executed, run.returncode


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    for folder in ("site", "jupyter_cache", "results_cache"):
        shutil.rmtree(WORK / folder, ignore_errors=True)
    results = WORK / "results_cache"
    results.mkdir()
    for sub in ("downloads", "models", "corpora"):  # what `make data` fetched stays; every result is recomputed
        (results / sub).symlink_to(cache_root() / sub)
    config = site_config()
    config["execute"]["cache"] = str(WORK / "jupyter_cache")
    path = WORK / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "LLMGEOM_CACHE": str(results)}

    print("cold build (empty execution and results caches)…", flush=True)
    cold, executed, rc_cold = build(path, env)
    print(f"  {cold:.0f} s, exit {rc_cold}", flush=True)
    print("cached build (nothing changed)…", flush=True)
    cached, _, rc_cached = build(path, env)
    print(f"  {cached:.1f} s, exit {rc_cached}", flush=True)

    record = {"machine": machine_info(), "cold_build_s": cold, "cached_build_s": cached,
              "cold_exit_status": rc_cold, "cached_exit_status": rc_cached,
              "notebook_execution_s": dict(sorted(executed.items()))}
    text = json.dumps(record, indent=2)
    (WORK / "build.json").write_text(text)
    LATEST.mkdir(parents=True, exist_ok=True)
    (LATEST / "build.json").write_text(text)
    print(f"wrote {WORK / 'build.json'} and {LATEST / 'build.json'}")
    for name, seconds in record["notebook_execution_s"].items():
        print(f"  {name:32s} {seconds:7.1f} s")
    return 0 if rc_cold == 0 and rc_cached == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
