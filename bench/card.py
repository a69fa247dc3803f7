"""`make bench-card`: how long a reproduction card takes, part by part, from an empty results cache.

Times a default card of SmolLM2-135M (every part) and the ladder's family card (C1 on the first seed of every size,
then chapter 2's size law), each from its own empty results cache (downloads shared), with this CPU's fp32 GEMM rate
measured in the same run so that times can be compared across machines. Writes bench/latest/card.json.
The issue's targets on the host that recorded bench/latest: a SmolLM2 card within 5 minutes, the ladder's family
card within 6.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import gemm_rate, machine_info  # noqa: E402

from llmgeom.experiments.card import DEFAULT, family_card, make_card  # noqa: E402
from llmgeom.experiments.family import ladder_family  # noqa: E402
from llmgeom.store.cache import atomic_write_bytes, empty_results_cache  # noqa: E402

LATEST = ROOT / "bench" / "latest"


def cold(fn):
    """Run ``fn`` against a new empty results cache; return its result and wall seconds."""
    with tempfile.TemporaryDirectory() as folder:
        previous = os.environ.get("LLMGEOM_CACHE")
        os.environ["LLMGEOM_CACHE"] = str(empty_results_cache(Path(folder) / "cache"))
        try:
            started = time.perf_counter()
            result = fn()
            return result, time.perf_counter() - started
        finally:
            if previous is None:
                os.environ.pop("LLMGEOM_CACHE", None)
            else:
                os.environ["LLMGEOM_CACHE"] = previous


def main() -> int:
    record = {"machine": machine_info(), "gemm_gflops": gemm_rate()}
    card, seconds = cold(lambda: make_card("smollm2-135m", settings=DEFAULT, progress=True))
    record["smollm2_card"] = {"seconds": seconds, "parts": card["provenance"]["seconds"]}
    names = [size[0].name for size in ladder_family().sizes]

    def family():
        members = [make_card(name, parts=("c1",), settings=DEFAULT, progress=False) for name in names]
        return members, family_card(members, n_boot=DEFAULT.n_boot, seed=DEFAULT.seed)

    (members, _), seconds = cold(family)
    record["ladder_family_card"] = {"seconds": seconds, "members": {m["model"]: m["provenance"]["seconds"] for m in members}}
    record["gemm_gflops_after"] = gemm_rate()
    record["smollm2_card_s"] = record["smollm2_card"]["seconds"]
    record["ladder_family_card_s"] = record["ladder_family_card"]["seconds"]
    LATEST.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(LATEST / "card.json", json.dumps(record, indent=1).encode())
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in record["smollm2_card"]["parts"].items())
    print(f"SmolLM2 card: {record['smollm2_card']['seconds']:.0f} s ({parts}); ladder family card: "
          f"{record['ladder_family_card']['seconds']:.0f} s; GEMM {record['gemm_gflops']:.0f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
