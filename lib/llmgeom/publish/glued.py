"""Every value a build glued into the prose, as one record: written by ``make book``, compared by ``make test``.

``make book`` collects what MyST-NB stored for each notebook (``_build/jupyter_execute/notebooks/*.glue.json``)
into ``_build/glue.json``; ``make bench-build`` keeps the copy of the machine it ran on in
``bench/latest/glue.json``. The same record serves three checks (``tests/test_determinism.py``):

* a second execution of a notebook must glue *identical* values (same machine, same inputs);
* a notebook executed from a warm results cache must glue what it glued from a cold one;
* across machines, :func:`compare` *reports* values that differ beyond :data:`REL_TOL` / :data:`ABS_TOL`, and
  every verdict string that differs — a verdict that depends on the machine is a finding for its chapter.

``python -m llmgeom.publish.glued record [BUILD] [OUT]`` writes the record;
``python -m llmgeom.publish.glued compare NEW OLD`` prints the cross-machine summary (exit status 0 whatever it finds:
it reports, it does not judge).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from llmgeom.store.paths import REPO_ROOT

MIMES = ("text/plain", "text/markdown")
#: Cross-machine tolerance for glued numbers: ``|a − b| ≤ ABS_TOL + REL_TOL · max(|a|, |b|)``. Different CPUs
#: round a GEMM differently (AVX-512 against AVX2 kernels, thread splits), so float32 hidden states agree to about
#: 1e-6 relative; a statistic computed from them moves by more where it sums or ranks many of them.
REL_TOL = 1e-4
#: Absolute part of the tolerance: values that are rounding noise (a gap of 1e-14) are compared as equal.
ABS_TOL = 1e-9
#: Chapters whose glued values are not computed by the machine that builds them, left out of the cross-machine
#: comparison: the Performance appendix renders the committed benchmark records (bench/latest/) themselves.
NOT_COMPUTED_HERE = ("92_performance",)


def from_build(folder: Path) -> dict[str, dict[str, str]]:
    """``{"chapter::name": {mime: text}}`` from the ``*.glue.json`` files MyST-NB wrote into ``folder``."""
    values = {}
    for path in sorted(Path(folder).glob("*.glue.json")):
        chapter = path.name.removesuffix(".glue.json")
        for name, output in json.loads(path.read_text(encoding="utf-8")).items():
            values[f"{chapter}::{name}"] = _bundle(output.get("data", {}))
    return values


def from_notebook(notebook, chapter: str) -> dict[str, dict[str, str]]:
    """The same mapping from an executed notebook object (``nbformat``), for notebooks run outside a build."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                # outside a build the data keys still carry the glue prefix (``application/papermill.record/``)
                prefix = scrap.get("mime_prefix", "")
                values[f"{chapter}::{scrap['name']}"] = _bundle(
                    {mime.removeprefix(prefix): text for mime, text in output.get("data", {}).items()})
    return values


def _bundle(data: dict) -> dict[str, str]:
    return {mime: "".join(data[mime]) if isinstance(data[mime], list) else data[mime] for mime in MIMES if mime in data}


def is_verdict(name: str) -> bool:
    """A glued name that carries a verdict (``c1_verdict``, ``ch5_verdict_line``, …)."""
    return "verdict" in name.split("::")[-1]


def as_number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def close(a: float, b: float, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= abs_tol + rel_tol * max(abs(a), abs(b))


@dataclass
class Comparison:
    """What :func:`compare` found: names in one record only, numbers beyond tolerance, strings and verdicts that
    differ."""

    compared: int = 0
    only_new: list[str] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    numbers: list[tuple[str, float, float]] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def differing(self) -> int:
        return len(self.numbers) + len(self.strings) + len(self.verdicts)

    def summary(self, limit: int = 15) -> str:
        lines = [f"glued values compared: {self.compared}; differing beyond tolerance (|a-b| <= {ABS_TOL:g} + "
                 f"{REL_TOL:g}*max|.|): {self.differing} ({len(self.numbers)} numbers, {len(self.strings)} other "
                 f"strings, {len(self.verdicts)} verdicts); only in this build: {len(self.only_new)}, only in the "
                 f"record: {len(self.only_old)}"]
        for name, new, old in self.verdicts:
            lines.append(f"  VERDICT {name}: here {new!r}; recorded {old!r}")
        worst = sorted(self.numbers, key=lambda t: -abs(t[1] - t[2]) / max(abs(t[1]), abs(t[2]), 1e-300))
        for name, new, old in worst[:limit]:
            lines.append(f"  {name}: here {new:.6g}, recorded {old:.6g}")
        if len(worst) > limit:
            lines.append(f"  … and {len(worst) - limit} more numbers")
        for name in self.strings[:limit]:
            lines.append(f"  text differs: {name}")
        for label, names in (("only in this build", self.only_new), ("only in the record", self.only_old)):
            if names:
                lines.append(f"  {label}: {', '.join(names[:limit])}{' …' if len(names) > limit else ''}")
        return "\n".join(lines)


def compare(new: dict, old: dict, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL,
            skip: tuple[str, ...] = ()) -> Comparison:
    """Compare two records (``{name: {mime: text}}``): numbers within a tolerance, every string exactly; names of
    the chapters in ``skip`` are left out."""
    new, old = ({k: v for k, v in r.items() if k.split("::")[0] not in skip} for r in (new, old))
    result = Comparison(only_new=sorted(set(new) - set(old)), only_old=sorted(set(old) - set(new)))
    for name in sorted(set(new) & set(old)):
        result.compared += 1
        a, b = new[name], old[name]
        if a == b:
            continue
        x, y = as_number(a.get("text/plain")), as_number(b.get("text/plain"))
        if x is not None and y is not None and "text/markdown" not in a and "text/markdown" not in b:
            if not close(x, y, rel_tol, abs_tol):
                result.numbers.append((name, x, y))
        elif is_verdict(name):
            result.verdicts.append((name, _text(a), _text(b)))
        else:
            result.strings.append(name)
    return result


def renamed(values: dict, rules) -> dict:
    """``values`` with every glue name (the part after ``notebook::``) renamed by each ``(pattern, replacement)``
    regular expression in turn: a record from before a renaming, comparable with one from after it."""
    out = {}
    for key, bundle in values.items():
        notebook, sep, name = key.rpartition("::")
        for pattern, replacement in rules:
            name = re.sub(pattern, replacement, name)
        out[f"{notebook}{sep}{name}"] = bundle
    return out


def _text(bundle: dict) -> str:
    return bundle.get("text/plain", bundle.get("text/markdown", ""))


def write_record(values: dict, path: Path) -> None:
    record = {"written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu": cpu_model(), "platform": platform.platform(), "values": values}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def read_record(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmgeom.publish.glued", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="collect a build's glued values into one JSON file")
    rec.add_argument("build", nargs="?", default=str(REPO_ROOT / "_build" / "jupyter_execute" / "notebooks"))
    rec.add_argument("out", nargs="?", default=str(REPO_ROOT / "_build" / "glue.json"))
    cmp_ = commands.add_parser("compare", help="report glued values that differ between two records")
    cmp_.add_argument("new", nargs="?", default=str(REPO_ROOT / "_build" / "glue.json"))
    cmp_.add_argument("old", nargs="?", default=str(REPO_ROOT / "bench" / "latest" / "glue.json"))
    cmp_.add_argument("--rename", action="append", default=[], metavar="PATTERN=REPLACEMENT",
                      help="rename the old record's glue names (a regular expression and its replacement, applied to "
                           "the name after its notebook's '::'), to compare across a renaming; repeatable")
    args = parser.parse_args(argv)
    if args.command == "record":
        values = from_build(Path(args.build))
        if not values:
            print(f"error: no glued values under {args.build}: build the book first (make book)", file=sys.stderr)
            return 2
        write_record(values, Path(args.out))
        print(f"{len(values)} glued values written to {args.out}")
        return 0
    for path in (args.new, args.old):
        if not Path(path).is_file():
            print(f"cross-machine comparison skipped: {path} does not exist")
            return 0
    new, old = read_record(Path(args.new)), read_record(Path(args.old))
    try:
        old["values"] = renamed(old["values"], [rule.split("=", 1) for rule in args.rename])
    except (ValueError, re.error) as err:
        print(f"error: --rename takes PATTERN=REPLACEMENT with a valid regular expression ({err})", file=sys.stderr)
        return 2
    print(f"cross-machine comparison: this build ({new.get('cpu')}) against {args.old} ({old.get('cpu')}, "
          f"{old.get('written')})")
    print(compare(new["values"], old["values"], skip=NOT_COMPUTED_HERE).summary())
    print(f"  (left out: {', '.join(NOT_COMPUTED_HERE)}, which renders the committed benchmark records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
