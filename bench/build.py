"""`make bench-build`: the book's clock, in one run on one machine; writes _build/bench/build.json.

* **GEMM rate** — this CPU's float32 GEMM rate, the yardstick every time below is read against;
* **cold** — after `make setup` and `make data`: an empty execution cache and an empty results cache (the
  downloaded models and corpora are kept, as after `make data`), so every notebook executes from scratch;
* **cached** — the same build again with nothing changed: every notebook's outputs come from the execution cache;
* **test** — `make test`, step by step (`test-fast`, `test-build`, `site-check`, `determinism`, exactly its
  prerequisites in order), each timed; `test_s` is their sum. The acceptance: `test_s` ≤ 1.5 × `cold_build_s`.

The cold and cached builds run the strict build of `make book` (warnings are errors) into `_build/bench/site`, so
the reader's `_build/html` is left alone. Per-notebook execution times are parsed from MyST-NB's log. The cold
build's glued values are kept as `bench/latest/glue.json`: the record `make test` compares a machine against.
`--no-test` skips the `make test` part.
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

from machine import gemm_rate, machine_info  # noqa: E402

from llmgeom.cache import empty_results_cache  # noqa: E402
from llmgeom.glued import from_build, write_record  # noqa: E402
from llmgeom.siteconfig import site_config  # noqa: E402

WORK = ROOT / "_build" / "bench"
LATEST = ROOT / "bench" / "latest"
FLAGS = ["-W", "-n", "--keep-going", "--all", "--builder", "html"]
TEST_STEPS = ("test-fast", "test-build", "site-check", "determinism")  # `make test`'s prerequisites, in order
EXECUTED = re.compile(r"(\S+\.md): Executed notebook in ([\d.]+) seconds")


def executed_times(log: str) -> dict[str, float]:
    """Per-notebook execution seconds from MyST-NB's log of a build."""
    return {Path(m.group(1)).stem: float(m.group(2)) for m in EXECUTED.finditer(log)}


def build(config: Path, env: dict) -> tuple[float, dict[str, float], int]:
    command = [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(ROOT), "--config", str(config),
               "--path-output", str(WORK / "site"), *FLAGS]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    executed = executed_times(run.stdout + run.stderr)
    if run.returncode:
        print((run.stdout + run.stderr)[-3000:], file=sys.stderr)
    return seconds, executed, run.returncode


def make_test() -> dict:
    """Time `make test` step by step; the test build's per-notebook times too."""
    steps, status, executed = {}, 0, {}
    for step in TEST_STEPS:
        start = time.perf_counter()
        run = subprocess.run(["make", step], cwd=ROOT, capture_output=True, text=True)
        steps[step] = time.perf_counter() - start
        output = run.stdout + run.stderr
        if step == "test-build":
            executed = executed_times(output)
        tail = [line for line in output.splitlines() if line.strip()][-3:]
        print(f"  make {step}: {steps[step]:.0f} s, exit {run.returncode}  | {' / '.join(tail)[-200:]}", flush=True)
        if run.returncode:
            print(output[-3000:], file=sys.stderr)
            status = run.returncode
            break
    return {"test_s": sum(steps.values()), "test_steps_s": steps, "test_exit_status": status,
            "test_notebook_execution_s": dict(sorted(executed.items()))}


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    for folder in ("site", "jupyter_cache", "results_cache"):
        shutil.rmtree(WORK / folder, ignore_errors=True)
    results = empty_results_cache(WORK / "results_cache")  # what `make data` fetched stays; results recompute
    config = site_config()
    config["execute"]["cache"] = str(WORK / "jupyter_cache")
    path = WORK / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "LLMGEOM_CACHE": str(results)}

    gemm = gemm_rate()
    print(f"fp32 GEMM 2048³: {gemm:.1f} GFLOP/s", flush=True)
    print("cold build (empty execution and results caches)…", flush=True)
    cold, executed, rc_cold = build(path, env)
    print(f"  {cold:.0f} s, exit {rc_cold}", flush=True)
    glued = from_build(WORK / "site" / "_build" / "jupyter_execute" / "notebooks")
    if rc_cold == 0 and glued:  # before `make test`, which compares its own build against this record
        write_record(glued, LATEST / "glue.json")
    print("cached build (nothing changed)…", flush=True)
    cached, _, rc_cached = build(path, env)
    print(f"  {cached:.1f} s, exit {rc_cached}", flush=True)
    record = {"machine": machine_info(), "gemm_gflops": gemm, "cold_build_s": cold, "cached_build_s": cached,
              "cold_exit_status": rc_cold, "cached_exit_status": rc_cached,
              "notebook_execution_s": dict(sorted(executed.items()))}
    if "--no-test" not in sys.argv:
        print("make test, step by step…", flush=True)
        record.update(make_test())
        record["test_over_cold_build"] = record["test_s"] / cold
        print(f"  make test: {record['test_s']:.0f} s = {record['test_over_cold_build']:.2f} × the cold build", flush=True)

    text = json.dumps(record, indent=2)
    (WORK / "build.json").write_text(text)
    LATEST.mkdir(parents=True, exist_ok=True)
    (LATEST / "build.json").write_text(text)
    print(f"wrote {WORK / 'build.json'} and {LATEST / 'build.json'}" +
          (f"; {LATEST / 'glue.json'} holds the cold build's {len(glued)} glued values" if glued else
           "; no glued values found, bench/latest/glue.json left as it was"))
    for name, seconds in record["notebook_execution_s"].items():
        print(f"  {name:32s} {seconds:7.1f} s")
    ok = rc_cold == 0 and rc_cached == 0 and record.get("test_exit_status", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
