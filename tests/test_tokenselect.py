"""Chapter 5's experiment functions: texts, baselines, paired comparisons, Holm and the marginal cells."""

from __future__ import annotations

import numpy as np
import pytest

from llmgeom.core.metrics import hit_at_k
from llmgeom.data.planted import NON_IDENTITY_TASKS
from llmgeom.experiments.tokenselect import (Comparison, baseline_scores, holm_family, marginal_cells, metric_table,
                                             paired_comparison, passage_texts, planted_texts, top_predictions)
from llmgeom.models.loading import load


@pytest.fixture(scope="module")
def tiny(tiny_long_model_dir):
    return load(str(tiny_long_model_dir), attentions=True)


def test_texts_hold_what_each_ground_truth_needs(tiny):
    passages = passage_texts(tiny, "shakespeare", 6, 12)
    assert len(passages) == 6 and all(len(i) == 12 for i in passages.ids)
    assert all(c is not None and len(c) == 10 for c in passages.content)
    planted = planted_texts(tiny, ["copy", *NON_IDENTITY_TASKS], 3)
    assert planted.kind == ["copy"] * 3 + [t for t in NON_IDENTITY_TASKS for _ in range(3)]
    assert all(b is not None and len(b) == len(i) - 2 and b.any() for b, i in zip(planted.bearing, planted.ids))


def test_id_match_scores_one_on_a_copy_task_by_construction():
    # a real tokenizer, where each listed word is one token (a tiny BPE splits words and its pieces repeat)
    smol = load("smollm2-135m")
    planted = planted_texts(smol, ["copy"], 8)
    # a model that answers: its prediction is the answer, which the copy task lists earlier
    scores = baseline_scores(smol, planted, top_ids=planted.targets)["id-match"]
    hits = metric_table(scores, planted.bearing, lambda s, b: hit_at_k(s, b, 1))
    assert np.all(hits == 1.0)


def test_baselines_are_laid_out_per_candidate(tiny):
    texts = passage_texts(tiny, "shakespeare", 4, 10)
    tops = top_predictions(tiny, texts)
    scores = baseline_scores(tiny, texts, tops)
    for name, table in scores.items():
        assert table.shape == (4, 1, 8), name
        assert np.isfinite(table).all(), name
    np.testing.assert_array_equal(scores["recency"][0, 0], np.arange(8))
    expected = (np.array(texts.ids[2][1:-1]) == tops[2]).astype(float)
    np.testing.assert_array_equal(scores["id-match"][2, 0], expected)


def test_paired_comparison_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    better = rng.normal(0.6, 0.1, (40, 3))
    worse = rng.normal(0.5, 0.1, (40, 3))
    result = paired_comparison(better, worse)
    assert result.low > 0 and result.p_value < 0.01 and result.n_texts == 40
    same = paired_comparison(better, better + rng.normal(0, 0.1, (40, 3)))
    assert same.low < 0 < same.high and same.p_value > 0.05
    assert paired_comparison(better[:5], worse[:5]) is None


def test_holm_family_adjusts_only_the_tested_cells():
    cells = {"a": Comparison(0.1, 0.05, 0.15, 0.01, 40), "b": Comparison(0.0, -0.1, 0.1, 0.04, 40), "c": None}
    adjusted = holm_family(cells)
    assert adjusted["a"].adjusted_p == pytest.approx(0.02) and adjusted["b"].adjusted_p == pytest.approx(0.04)
    assert adjusted["c"] is None and adjusted["a"].significant


def test_marginal_cells_are_those_that_decide_the_verdict_alone():
    def decide(signs):  # "better somewhere"
        return "better" if any(s > 0 for s in signs.values()) else "not better"

    # one cell barely above zero decides "better"; a cell far below zero does not matter
    cells = {"close": Comparison(0.05, 0.01, 0.09, 0.01, 40), "far": Comparison(-1.0, -1.1, -0.9, 0.0, 40)}
    assert marginal_cells(cells, decide) == ["close"]
    # a clear winner: moving it by its width keeps it above zero, so nothing is marginal
    cells = {"clear": Comparison(0.5, 0.45, 0.55, 0.0, 40), "far": Comparison(-1.0, -1.1, -0.9, 0.0, 40)}
    assert marginal_cells(cells, decide) == []


def test_the_whole_experiment_runs_on_a_tiny_model_and_decides_a_verdict(tiny):
    from llmgeom.experiments.tokenselect import FAMILY, GROUND_TRUTHS, SELECTORS, decide_verdict, run_experiment, selector_tables

    passages = passage_texts(tiny, "shakespeare", 12, 10)
    planted = planted_texts(tiny, ["copy", "opposite"], 6)
    result = run_experiment(tiny, passages, planted, blocks=[1, 2], n_boot=200, n_resamples=200)
    assert set(result.cells) == {(t, s) for t in GROUND_TRUTHS for s in SELECTORS}
    assert result.cells["erasure (passages)", "lasso (state)"].n == 12
    # a random model answers no planted prompt: those cells are untestable, not zero
    assert result.cells["planted (answer-bearing)", "lasso (state)"] is None
    tables = selector_tables(tiny, passages, [1, 2], top_predictions(tiny, passages))
    assert tables["attention (best head)"].shape == (12, 2 * tiny.model.config.num_attention_heads, 8)
    assert tables["attention rollout"].shape == tables["lasso (state)"].shape == (12, 2, 8)
    verdict = decide_verdict({"a": result, "b": result})
    assert verdict.word in {"reproduced", "partly reproduced", "not reproduced"}  # the same model cannot disagree
    assert set(verdict.tested) <= {(m, t) for m in "ab" for t in FAMILY}
