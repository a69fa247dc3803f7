"""The README's "Measured times" table, generated from the benchmark records; no time in it is typed by hand.

    .venv/bin/python bench/readme_times.py           # rewrite the table in README.md from the records
    .venv/bin/python bench/readme_times.py --check   # exit 1, with one line, when README.md differs from them

The table lies between ``<!-- times:begin -->`` and ``<!-- times:end -->`` in README.md. Its sources:
``bench/latest/build.json`` (`make bench-build`: the cold and cached builds, `make test` step by step, each
chapter's execution time and longest cell), ``bench/latest/results.json`` (`make bench`),
``bench/latest/card.json`` (`make bench-card`) and ``models/*/training_log.json`` (`make ladder`: the training wall
time of every committed model). Every row names the date, CPU and GEMM rate of the machine that recorded it; a
command without a record says "not recorded" rather than carry a number.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LATEST = ROOT / "bench" / "latest"
MODELS = ROOT / "models"
BEGIN, END = "<!-- times:begin -->", "<!-- times:end -->"
NOT_RECORDED = "not recorded"


def duration(seconds: float | None) -> str:
    """``13 min 41 s``, ``1 h 26 min``, ``46 s``, ``5.6 s``; "not recorded" for None."""
    if seconds is None:
        return NOT_RECORDED
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def records(latest: Path = LATEST, models: Path = MODELS) -> dict:
    """Every record the table reads: ``build``, ``bench``, ``card`` (``{}`` where missing) and ``ladder``, the
    training logs' ``wall_time_s`` and ``threads`` per model."""
    ladder = {}
    for log in sorted(models.glob("*/training_log.json")):
        entry = _json(log)
        if isinstance(entry.get("wall_time_s"), (int, float)):
            ladder[log.parent.name] = {"wall_time_s": entry["wall_time_s"], "threads": entry.get("threads")}
    return {"build": _json(latest / "build.json"), "bench": _json(latest / "results.json"),
            "card": _json(latest / "card.json"), "ladder": ladder}


def _machine(record: dict, source: str) -> str:
    machine, gemm = record.get("machine", {}), record.get("gemm_gflops")
    if not machine and gemm is None:
        return f"{NOT_RECORDED} (`{source}` missing)"
    parts = [machine.get("date", "")[:10] or "undated", machine.get("cpu") or "unknown CPU"]
    if machine.get("cpu_count"):
        parts.append(f"{machine['cpu_count']} cores")
    parts.append(f"{gemm:.0f} GFLOP/s" if isinstance(gemm, (int, float)) else "GEMM rate not recorded")
    return ", ".join(parts) + f" (`{source}`)"


def _code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _exit(record: dict, key: str) -> str:
    status = record.get(key)
    return f" (exit status {status})" if status else ""


def table(recs: dict) -> str:
    """The Markdown between the markers: the table and the line that says where it comes from."""
    build, bench, card, ladder = recs["build"], recs["bench"], recs["card"], recs["ladder"]
    steps = build.get("test_steps_s", {})
    rows = []

    # make book: the cold and cached builds of make bench-build
    cold = build.get("cold_build_s")
    book = (f"{duration(cold)}{_exit(build, 'cold_exit_status')}: every notebook executed from empty execution and "
            "results caches, once `make setup` has installed `.venv` and `make data` fetched corpora and models "
            f"(those two: {NOT_RECORDED})")
    chapters = build.get("notebook_execution_s", {})
    if chapters:
        slowest = max(chapters, key=chapters.get)
        longest = (build.get("longest_cell") or {}).get(slowest)
        book += f"; the slowest chapter, `{slowest}`, {duration(chapters[slowest])}"
        if longest:
            book += f", its longest cell {duration(longest['seconds'])} ({_code(longest['first_line'])})"
    cached = (f"{duration(build.get('cached_build_s'))}{_exit(build, 'cached_exit_status')} "
              "(every notebook from the execution cache)")
    rows.append(("`make book`", book, cached, _machine(build, "bench/latest/build.json")))

    # make test, step by step
    if "test_s" in build:
        step = {name: f"`make {name}`, {duration(steps.get(name))}" for name in
                ("test-fast", "test-build", "site-check", "determinism")}
        ratio = build.get("test_over_cold_build")
        test = (f"{duration(build['test_s'])}{_exit(build, 'test_exit_status')}"
                + (f", {ratio:.2f} × the cold build" if isinstance(ratio, (int, float)) else "")
                + f": unit tests ({step['test-fast']}; including every cached computation unit run twice in fresh "
                f"processes, and chapter 4 run on a tiny local model), a fresh strict build from an empty results "
                f"cache ({step['test-build']}), the site and browser checks ({step['site-check']}; every page at "
                f"two widths), and re-executions that must glue identical values ({step['determinism']}: "
                "chapters 4 and the Performance appendix cold, chapters 2, 5 and 6 from the warm cache); it prints "
                "how many glued values differ from the recorded machine's (`bench/latest/glue.json`)")
    else:
        test = NOT_RECORDED + (" (`make bench-build` ran with `--no-test`)" if build else "")
    rows.append(("`make test`", test, "the same (it always re-executes)", _machine(build, "bench/latest/build.json")))

    # make bench
    wall = bench.get("wall_s")
    quick = " (a `--quick` smoke run)" if bench.get("quick") else ""
    measured = (f"{duration(wall)}{quick}: the entropy kernel, end-to-end runs and peak memory against the "
                "companion route (see the Performance appendix)")
    rows.append(("`make bench`", measured, "the same", _machine(bench, "bench/latest/results.json")))

    # make bench-card
    smol, family = card.get("smollm2_card_s"), card.get("ladder_family_card_s")
    cards = (f"{duration(smol)} for a default SmolLM2-135M-Instruct card, part by part, and {duration(family)} for the "
             "ladder's family card, each from an empty results cache")
    rows.append(("`make bench-card`", cards, "the same", _machine(card, "bench/latest/card.json")))

    # make bench-build: the sum of its recorded parts
    parts = [build.get(k) for k in ("cold_build_s", "cached_build_s", "test_s")]
    recorded = [p for p in parts if isinstance(p, (int, float))]
    total = sum(recorded) if parts[0] is not None and parts[1] is not None else None
    rows.append(("`make bench-build`", f"{duration(total)}: the sum of its timed parts above (the cold build, the "
                 "cached rebuild" + (" and `make test` step by step" if parts[2] is not None else "") +
                 "), with the GEMM rate (`bench/latest/build.json`)", "the same",
                 _machine(build, "bench/latest/build.json")))

    # make ladder: the training logs
    if ladder:
        seconds = sum(m["wall_time_s"] for m in ladder.values())
        threads = sorted({m["threads"] for m in ladder.values() if m.get("threads")})
        train = (f"{duration(seconds)} of training wall time, summed over the {len(ladder)} committed models' "
                 "`models/*/training_log.json` (tokenizer and data preparation not timed); the models are "
                 "committed, so this only retrains")
        where = (f"{NOT_RECORDED}: the training logs hold no date, CPU or GEMM rate"
                 + (f" ({'/'.join(map(str, threads))} threads)" if threads else ""))
    else:
        train, where = f"{NOT_RECORDED} (no `models/*/training_log.json`)", NOT_RECORDED
    rows.append(("`make ladder`", train, "nothing to do", where))

    lines = ["| command | fresh clone | again, nothing changed | recorded on (date, CPU, GEMM rate) |",
             "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    lines += ["", ("Generated by `python bench/readme_times.py` from the records named in the last column; "
                   "`make test` fails when the table and the records disagree.")]
    return "\n".join(lines)


def rewrite(text: str, block: str) -> str:
    """``text`` with the part between the markers replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN} … {END} section")
    return text[:start + len(BEGIN)] + "\n" + block + "\n" + text[end:]


def check(readme: Path = README, latest: Path = LATEST, models: Path = MODELS) -> str | None:
    """None when ``readme``'s table is what the records give; else a one-line message saying what differs."""
    text = readme.read_text()
    try:
        expected = rewrite(text, table(records(latest, models)))
    except ValueError as error:
        return f"{readme}: {error}"
    if expected == text:
        return None
    old, new = text.splitlines(), expected.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    return (f"{readme}:{line + 1}: the measured-times table differs from the records in {latest}; "
            "run `python bench/readme_times.py`")


def update(readme: Path = README, latest: Path = LATEST, models: Path = MODELS) -> bool:
    """Rewrite ``readme``'s table from the records; True when it changed."""
    text = readme.read_text()
    expected = rewrite(text, table(records(latest, models)))
    if expected != text:
        readme.write_text(expected)
    return expected != text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--check"]):
        print(__doc__.strip().splitlines()[0] + "\nusage: readme_times.py [--check]", file=sys.stderr)
        return 2
    if args == ["--check"]:
        message = check()
        if message:
            print(message)
            return 1
        return 0
    print(f"{README}: measured-times table {'rewritten' if update() else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
