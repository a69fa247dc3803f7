"""The README's "Measured times" table is what bench/readme_times.py generates from the benchmark records."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_times", ROOT / "bench" / "readme_times.py")
readme_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_times)


def test_readme_table_matches_the_records():
    message = readme_times.check(ROOT / "README.md", ROOT / "bench" / "latest", ROOT / "models")
    assert message is None, message


def test_a_planted_number_in_the_table_is_detected(tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    begin, end = text.index(readme_times.BEGIN), text.index(readme_times.END)
    found = re.search(r"(\d+) min (\d+) s", text[begin:end])
    assert found, "the table holds no 'N min N s' time"
    seconds = int(found.group(2))
    planted = f"{found.group(1)} min {(seconds + 1) % 60} s"
    readme.write_text(text[:begin + found.start()] + planted + text[begin + found.end():])
    message = readme_times.check(readme, ROOT / "bench" / "latest", ROOT / "models")
    assert message is not None and "differs from the records" in message and "\n" not in message


def test_a_changed_record_is_detected_and_rewritten(tmp_path):
    latest = tmp_path / "latest"
    shutil.copytree(ROOT / "bench" / "latest", latest)
    build = json.loads((latest / "build.json").read_text())
    build["cold_build_s"] = 3723.0
    (latest / "build.json").write_text(json.dumps(build))
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    assert readme_times.check(readme, latest, ROOT / "models") is not None
    assert readme_times.update(readme, latest, ROOT / "models")
    assert readme_times.check(readme, latest, ROOT / "models") is None
    assert "| `make book` | 1 h 2 min: " in readme.read_text()


def test_missing_records_give_no_number(tmp_path):
    block = readme_times.table(readme_times.records(tmp_path / "none", tmp_path / "none"))
    rows = [line for line in block.splitlines() if line.startswith("| `make")]
    assert len(rows) == 6
    numbers = re.compile(r"\d+(\.\d+)? ?(s|min|h|GFLOP/s|×)\b|\d{4}-\d\d-\d\d")
    assert not any(numbers.search(row) for row in rows), rows


def test_durations():
    assert [readme_times.duration(s) for s in (5.56, 45.6, 820.6, 5159.2, None)] == [
        "5.6 s", "46 s", "13 min 41 s", "1 h 26 min", "not recorded"]
