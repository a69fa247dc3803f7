"""Chapter 5's experiment functions: texts, baselines, paired comparisons, Holm and the marginal cells."""

from __future__ import annotations

import numpy as np
import pytest

from llmgeom.core.metrics import hit_at_k
from llmgeom.data.planted import NON_IDENTITY_TASKS
from llmgeom.experiments.tokenselect import (FAMILY, SELECTS_CELLS, Comparison, baseline_scores, holm_family,
                                             metric_table, paired_comparison, passage_texts, planted_texts,
                                             top_predictions, verdict_from_tests)
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


def _test(difference, p_value):
    return Comparison(difference, difference - 0.1, difference + 0.1, p_value, 40)


def _tests(model, selects=(0.001, 0.001), better=(0.5,) * 5, sign=1.0):
    """One decoder's tests: the two S cells' and the five B cells' p-values (differences positive unless ``sign``)."""
    out = {(model, "S", t): None if p is None else _test(sign * 0.1, p) for t, p in zip(SELECTS_CELLS, selects)}
    return out | {(model, "B", t): _test(0.1, p) for t, p in zip(FAMILY, better)}


@pytest.mark.parametrize("selects, better, word", [
    ((1e-4, 1e-4), (1e-4, 0.5, 0.5, 0.5, 0.5), "reproduced"),
    ((1e-4, 0.5), (1e-4, 0.5, 0.5, 0.5, 0.5), "partly reproduced"),      # S needs both planted cells
    ((1e-4, None), (1e-4, 0.5, 0.5, 0.5, 0.5), "partly reproduced"),     # an untested S cell is not a pass
    ((1e-4, 1e-4), (0.5,) * 5, "partly reproduced"),                     # S without B
    ((0.5, 0.5), (0.5,) * 5, "not reproduced"),
])
def test_the_c4_rule_on_every_outcome(selects, better, word):
    verdict = verdict_from_tests(_tests("a", selects, better) | _tests("b", selects, better))
    assert verdict.per_model == {"a": word, "b": word} and verdict.word == word


def test_a_significantly_worse_lasso_does_not_select():
    verdict = verdict_from_tests(_tests("a", (1e-4, 1e-4), (1e-4,) + (0.5,) * 4, sign=-1.0))
    assert verdict.selects == {"a": False} and verdict.better == {"a": True}
    assert verdict.negative(("a", "S", SELECTS_CELLS[0])) and verdict.per_model["a"] == "partly reproduced"


def test_a_cell_significant_before_holm_and_not_after_does_not_count():
    # p = 0.02 alone is significant; among 14 tests Holm multiplies it past the level
    alone = verdict_from_tests({("a", "B", FAMILY[0]): _test(0.1, 0.02)})
    assert alone.better == {"a": True}
    family = _tests("a", (1e-4, 1e-4), (0.02, 0.5, 0.5, 0.5, 0.5)) | _tests("b", (1e-4, 1e-4), (0.02,) + (0.5,) * 4)
    verdict = verdict_from_tests(family)
    assert verdict.tests["a", "B", FAMILY[0]].p_value < 0.05 < verdict.tests["a", "B", FAMILY[0]].adjusted_p
    assert verdict.better == {"a": False, "b": False} and verdict.per_model["a"] == "partly reproduced"


def test_the_decoders_disagreeing_is_model_dependent_and_each_has_its_own_marginal_tests():
    verdict = verdict_from_tests(_tests("a", (1e-4, 1e-4), (1e-4, 1e-4, 0.5, 0.5, 0.5))
                                 | _tests("b", (0.5, 0.5), (0.5,) * 5))
    assert verdict.per_model == {"a": "reproduced", "b": "not reproduced"} and verdict.word == "model-dependent"
    # a's word hangs on each S test (two B wins: losing one keeps B); b's on any B test turning positive (one S
    # test alone cannot make S, which needs both)
    assert verdict.marginal["a"] == [("a", "S", t) for t in SELECTS_CELLS]
    assert verdict.marginal["b"] == [("b", "B", t) for t in FAMILY]
    assert verdict.is_marginal


def test_the_whole_experiment_runs_on_a_tiny_model_and_decides_a_verdict(tiny):
    from llmgeom.experiments.tokenselect import GROUND_TRUTHS, REPORTED, decide_verdict, run_experiment, selector_tables

    passages = passage_texts(tiny, "shakespeare", 12, 10)
    planted = planted_texts(tiny, ["copy", "opposite"], 6)
    result = run_experiment(tiny, passages, planted, blocks=[1, 2], n_boot=200, n_resamples=200)
    assert set(result.cells) == {(t, s) for t in GROUND_TRUTHS for s in REPORTED}
    assert result.cells["erasure (passages)", "lasso (state)"].n == 12
    # a random model answers no planted prompt: those cells are untestable, not zero
    assert result.cells["planted (answer-bearing)", "lasso (state)"] is None
    tables = selector_tables(tiny, passages, [1, 2], top_predictions(tiny, passages))
    assert tables["attention (best head)"].shape == (12, 2 * tiny.model.config.num_attention_heads, 8)
    assert tables["attention rollout"].shape == tables["lasso (state)"].shape == (12, 2, 8)
    verdict = decide_verdict({"a": result, "b": result})
    assert verdict.word in {"reproduced", "partly reproduced", "not reproduced"}  # the same model cannot disagree
    assert set(verdict.tested) <= {(m, kind, t) for m in "ab" for kind in "SB" for t in FAMILY}
    assert verdict.per_model["a"] == verdict.per_model["b"]
    assert result.distances["opposite"] and result.n_subsets == {"fresh": 0, "repeated": 0}


def test_chapter_5s_tables_run_selectors_down_the_page_so_their_width_is_fixed():
    """One row per selector and one column per ground truth (or task, or subset): at 1280 px no column hides
    behind a scroll however many selectors a reader adds."""
    from types import SimpleNamespace

    from llmgeom.experiments.tokenselect import GROUND_TRUTHS, Cell
    from llmgeom.publish.tables import cells_markdown, subsets_markdown, tasks_markdown

    selectors = ["lasso (state)", "recency", "random"]
    result = SimpleNamespace(
        cells={(t, s): Cell(0.5, 0.4, 0.6, 20) for t in GROUND_TRUTHS for s in selectors},
        n_subsets={"fresh": 12, "repeated": 8}, subsets={(u, s): Cell(0.7, 0.6, 0.8, 12) for u in ("fresh", "repeated") for s in selectors},
        n_answered={"copy": 30, "recall": 25}, distances={"copy": [3, 5], "recall": [4]},
        per_task={(t, s): None if t == "recall" else Cell(0.9, 0.8, 1.0, 30) for t in ("copy", "recall") for s in selectors})
    for table, columns in [(cells_markdown(result, selectors), 1 + len(GROUND_TRUTHS)),
                           (subsets_markdown(result, selectors), 3), (tasks_markdown(result, selectors), 3)]:
        lines = table.splitlines()
        assert all(line.count("|") == columns + 1 for line in lines), table
        assert [line.split("|")[1].strip() for line in lines[-3:]] == selectors
    assert "20 texts" in cells_markdown(result, selectors).splitlines()[0]
    assert "| distances | 3, 5 | 4 |" in tasks_markdown(result, selectors)
    assert tasks_markdown(result, selectors).splitlines()[-1].endswith("| — |")
