"""Determinism where it is cheap and complete: every computation unit the chapters cache or draw at random,
rerun in two fresh processes, must give bit-identical results.

A fresh process is what a second build is: new hash seeds (set and dict order of strings), an empty results cache,
a new torch thread pool, models loaded again. Each run gets its own empty results cache and a different
``PYTHONHASHSEED``; the units themselves are listed in ``tests/reproducible_units.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def two_fresh_runs(tmp_path_factory):
    from llmgeom.store.cache import empty_results_cache

    runs = []
    for hash_seed in ("1", "2"):  # one after the other: two torch thread pools on two cores slow both down 2.5×
        cache = empty_results_cache(tmp_path_factory.mktemp(f"fresh-cache-{hash_seed}"))
        env = {**os.environ, "LLMGEOM_CACHE": str(cache), "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, str(HERE / "reproducible_units.py")], env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout))
    return runs


def test_both_runs_measured_every_unit(two_fresh_runs):
    first, second = two_fresh_runs
    assert set(first) == set(second)
    expected = {"layer_entropy", "layer_profile", "hidden_states", "score_context_tokens", "erasure_effects",
                "masked_runs", "sample_passages", "bootstrap_power_law", "bootstrap_exponent_difference",
                "generate_planted", "make_triples", "gaussian_simulation", "erasure_divergence", "selector_tables",
                "sign_flip_p_value", "cluster_bootstrap_mean_ci", "top_k_effects", "fact_texts"}
    assert expected <= set(first), f"units missing: {sorted(expected - set(first))}"


def test_every_unit_is_bit_identical_in_a_fresh_process(two_fresh_runs):
    first, second = two_fresh_runs
    differing = sorted(unit for unit in first if first[unit] != second.get(unit))
    assert not differing, f"{len(differing)} of {len(first)} units differ between two fresh processes: {differing}"
