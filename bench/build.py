"""`make bench-build`: the book's clock, in one run on one machine; writes _build/bench/build.json.

* **GEMM rate** — this CPU's float32 GEMM rate, the yardstick every time below is read against;
* **cold** — after `make setup` and `make data`: an empty execution cache and an empty results cache (the
  downloaded models and corpora are kept, as after `make data`), so every notebook executes from scratch;
* **cached** — the same build again with nothing changed: every notebook's outputs come from the execution cache;
* **test** — `make test`, step by step (`test-fast`, `test-build`, `site-check`, `determinism`, exactly its
  prerequisites in order), each timed; `test_s` is their sum. The acceptance: `test_s` ≤ 1.5 × `cold_build_s`.

The cold and cached builds run the strict build of `make book` (warnings are errors) into `_build/bench/site`, so
the reader's `_build/html` is left alone. Per-notebook execution times are parsed from MyST-NB's log. Each
notebook's longest cell (`longest_cell`, and `test_longest_cell` for the test build) is timed inside the kernel:
MyST-NB executes with nbclient's `record_timing` off, so the executed notebooks carry no per-cell timestamps;
instead a `PYTHONSTARTUP` file (run by every IPython kernel of the build) logs each cell's wall time, and the
kernel's cells are matched back to the notebook whose source holds them (null where no match). The cold
build's glued values are kept as `bench/latest/glue.json`: the record `make test` compares a machine against.
`--no-test` skips the `make test` part. `python bench/readme_times.py` turns the record into the README's table.
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

from llmgeom.publish.glued import from_build, write_record  # noqa: E402
from llmgeom.publish.siteconfig import site_config  # noqa: E402
from llmgeom.store.cache import empty_results_cache  # noqa: E402

WORK = ROOT / "_build" / "bench"
LATEST = ROOT / "bench" / "latest"
FLAGS = ["-W", "-n", "--keep-going", "--all", "--builder", "html"]
TEST_STEPS = ("test-fast", "test-build", "site-check", "determinism")  # `make test`'s prerequisites, in order
EXECUTED = re.compile(r"(\S+\.md): Executed notebook in ([\d.]+) seconds")
CELL_TIMER = """\
def _llmgeom_cell_timer():  # bench/build.py: log each cell's wall time to $LLMGEOM_CELL_TIMES (JSON lines)
    import json, os, time
    path, state, shell = os.environ.get("LLMGEOM_CELL_TIMES"), {}, get_ipython()
    if not path or shell is None:
        return
    def pre(info):
        state["start"], state["source"] = time.perf_counter(), info.raw_cell or ""
    def post(result):
        if "start" in state:
            seconds = time.perf_counter() - state.pop("start")
            with open(path, "a") as log:
                log.write(json.dumps({"pid": os.getpid(), "seconds": seconds, "source": state.pop("source")}) + "\\n")
    shell.events.register("pre_run_cell", pre)
    shell.events.register("post_run_cell", post)
try:
    _llmgeom_cell_timer()
except Exception:
    pass
del _llmgeom_cell_timer
"""


def executed_times(log: str) -> dict[str, float]:
    """Per-notebook execution seconds from MyST-NB's log of a build."""
    return {Path(m.group(1)).stem: float(m.group(2)) for m in EXECUTED.finditer(log)}


def first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip() and not line.startswith(":")), "")[:90]


def cell_timer_env(env: dict, log: Path) -> dict:
    """``env`` with every IPython kernel started under it logging its cells' wall times to ``log`` (emptied)."""
    log.unlink(missing_ok=True)
    startup = WORK / "cell_timer_startup.py"
    startup.write_text(CELL_TIMER)
    return {**env, "PYTHONSTARTUP": str(startup), "LLMGEOM_CELL_TIMES": str(log)}


def longest_cells(log: Path, names) -> dict[str, dict | None]:
    """``{notebook: {"seconds", "first_line"} or None}``: each notebook's longest cell from a cell-timer log. A
    kernel's cells are assigned to the notebook whose source holds most of their text; None where nothing matched."""
    longest: dict[str, dict | None] = {name: None for name in names}
    try:
        kernels: dict[int, list[dict]] = {}
        for line in log.read_text().splitlines() if log.exists() else []:
            entry = json.loads(line)
            kernels.setdefault(entry["pid"], []).append(entry)
        texts = {p.stem: p.read_text() for folder in ("notebooks", "book") for p in (ROOT / folder).glob("*.md")}
        for cells in kernels.values():
            score = {name: sum(len(c["source"].strip()) for c in cells if c["source"].strip() and
                               c["source"].strip() in text) for name, text in texts.items()}
            name = max(score, key=score.get, default=None)
            if name is None or score[name] == 0:
                continue
            cell = max(cells, key=lambda c: c["seconds"])
            if longest.get(name) is None or cell["seconds"] > longest[name]["seconds"]:
                longest[name] = {"seconds": round(cell["seconds"], 2), "first_line": first_line(cell["source"])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # never lose the record for it
        print(f"  no per-cell times from {log}: {error}", file=sys.stderr)
    return dict(sorted(longest.items()))


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
    """Time `make test` step by step; the test build's per-notebook times and longest cells too."""
    steps, status, executed = {}, 0, {}
    cells = WORK / "cell_times_test.jsonl"
    for step in TEST_STEPS:
        env = cell_timer_env(dict(os.environ), cells) if step == "test-build" else None
        start = time.perf_counter()
        run = subprocess.run(["make", step], cwd=ROOT, env=env, capture_output=True, text=True)
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
            "test_notebook_execution_s": dict(sorted(executed.items())),
            "test_longest_cell": longest_cells(cells, executed) if "test-build" in steps else {}}


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
    cells = WORK / "cell_times_cold.jsonl"
    cold, executed, rc_cold = build(path, cell_timer_env(env, cells))
    print(f"  {cold:.0f} s, exit {rc_cold}", flush=True)
    glued = from_build(WORK / "site" / "_build" / "jupyter_execute" / "notebooks")
    if rc_cold == 0 and glued:  # before `make test`, which compares its own build against this record
        write_record(glued, LATEST / "glue.json")
    print("cached build (nothing changed)…", flush=True)
    cached, _, rc_cached = build(path, env)
    print(f"  {cached:.1f} s, exit {rc_cached}", flush=True)
    record = {"machine": machine_info(), "gemm_gflops": gemm, "cold_build_s": cold, "cached_build_s": cached,
              "cold_exit_status": rc_cold, "cached_exit_status": rc_cached,
              "notebook_execution_s": dict(sorted(executed.items())),
              "longest_cell": longest_cells(cells, executed)}
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
        cell = record["longest_cell"].get(name)
        print(f"  {name:32s} {seconds:7.1f} s" + (f"  longest cell {cell['seconds']:.1f} s: {cell['first_line']}"
                                                   if cell else ""))
    ok = rc_cold == 0 and rc_cached == 0 and record.get("test_exit_status", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
