"""Chapter 5's selectors and metrics: Lasso recovers a planted support, attention scores, metrics, planted tasks."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from llmgeom.core.lasso import lasso_design, lasso_entry_scores, lasso_select
from llmgeom.core.metrics import auroc, cross_validated_best, hit_at_k, position_prior, precision_at_k, spearman
from llmgeom.data.planted import TASKS, encode_planted, generate_planted
from llmgeom.experiments.selection import attention_scores, content_word_mask, sink_share


@pytest.mark.parametrize("seed", range(5))
def test_lasso_recovers_a_planted_support_in_order_of_weight(seed):
    rng = np.random.default_rng(seed)
    context = rng.standard_normal((20, 256))
    support = rng.choice(20, 3, replace=False)
    unit = context / np.linalg.norm(context, axis=1, keepdims=True)
    target = 0.8 * unit[support[0]] + 0.5 * unit[support[1]] + 0.3 * unit[support[2]]
    target += 0.02 * rng.standard_normal(256)
    assert list(lasso_select(context, target, 3)) == list(support)
    scores = lasso_entry_scores(context, target)
    assert scores.shape == (20,)
    assert set(np.argsort(-scores)[:3]) == set(support)


def test_centring_removes_a_direction_every_token_shares():
    rng = np.random.default_rng(0)
    shared = 10 * rng.standard_normal(128)
    context = rng.standard_normal((12, 128)) + shared
    context[0] += 3 * shared  # the sink-like token: mostly the shared direction
    target = rng.standard_normal(128) + shared + 0.9 * np.linalg.norm(shared) / 11 * (context[7] - shared)
    assert lasso_select(context, target, 1, centre=True)[0] == 7


def test_lasso_design_shapes_and_errors():
    x, y = lasso_design(np.ones((5, 8)) + np.eye(5, 8), np.arange(8.0))
    assert x.shape == (8, 5) and y.shape == (8,)
    with pytest.raises(ValueError, match="width"):
        lasso_design(np.ones((5, 8)), np.ones(7))
    with pytest.raises(ValueError, match="NaN"):
        lasso_design(np.ones((5, 8)), np.full(8, np.nan))
    with pytest.raises(ValueError, match="k must be"):
        lasso_select(np.random.default_rng(0).standard_normal((4, 8)), np.ones(8), 5)


def test_attention_scores_leave_out_the_sink_and_the_query():
    rng = np.random.default_rng(0)
    a = rng.random((3, 6, 6))
    a = np.tril(a)
    a /= a.sum(axis=-1, keepdims=True)
    scores = attention_scores(a)
    assert scores.shape == (4, 4)  # 3 heads + mean; candidates 1..4
    np.testing.assert_allclose(scores[:3], a[:, 5, 1:5])
    np.testing.assert_allclose(scores[3], a[:, 5, 1:5].mean(axis=0))
    a[:, 5] = 0
    a[0, 5, 0], a[1, 5, 0], a[1, 5, 2], a[2, 5, 3] = 1.0, 0.6, 0.4, 1.0
    mass, rate = sink_share(a)
    assert mass == pytest.approx(1.6 / 3) and rate == pytest.approx(2 / 3)


def _over_tie_orders(s, r, k, metric):
    """The mean of ``metric(top k)`` over every order of the tokens consistent with descending scores (a brute-force
    reading of "ties ordered at random")."""
    orders = [p for p in itertools.permutations(range(len(s))) if all(s[a] >= s[b] for a, b in zip(p, p[1:]))]
    return np.mean([metric([r[i] for i in p[:k]]) for p in orders])


def test_metrics_against_definitions_and_sklearn():
    # scores with a tie at the top (tokens 1 and 3, one relevant) and relevant tokens 1 and 5: at k = 1 the tie
    # gives half credit, at k = 2 both tied tokens are in; ranking by position, ascending scores or an off-by-one k
    # each change at least one value below
    scores = np.array([0.2, 0.9, 0.4, 0.9, 0.1, 0.6])
    relevant = np.array([False, True, False, False, False, True])
    assert [precision_at_k(scores, relevant, k) for k in range(1, 7)] == pytest.approx([1 / 2, 1 / 2, 2 / 3, 2 / 4,
                                                                                        2 / 5, 2 / 6])
    assert [hit_at_k(scores, relevant, k) for k in range(1, 7)] == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert precision_at_k(scores, relevant, 10) == pytest.approx(2 / 6)  # k beyond the text: every token
    assert hit_at_k(scores, ~relevant, 1) == 0.5 and hit_at_k(-scores, relevant, 3) == 0.0  # tokens 4, 0, 2

    # against a brute force over every tie order, on small integer scores (many ties)
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 7))
        s, r, k = rng.integers(0, 3, n).astype(float), rng.random(n) < 0.4, int(rng.integers(1, n + 2))
        assert precision_at_k(s, r, k) == pytest.approx(_over_tie_orders(s, r, min(k, n), np.mean))
        assert hit_at_k(s, r, k) == pytest.approx(_over_tie_orders(s, r, min(k, n), lambda top: float(any(top))))

    # AUROC: a tie between a relevant and an irrelevant token counts one half (3.5 of 4 pairs ordered)
    assert auroc(np.array([0.8, 0.4, 0.4, 0.1]), np.array([True, True, False, False])) == 0.875
    assert auroc(np.array([0.1, 0.4, 0.4, 0.8]), np.array([True, True, False, False])) == 0.125
    for _ in range(20):
        s, labels = rng.integers(0, 4, 15).astype(float), rng.random(15) < 0.4
        if 0 < labels.sum() < 15:
            assert auroc(s, labels) == pytest.approx(roc_auc_score(labels, s))
    assert np.isnan(auroc(scores, np.zeros(6, bool))) and np.isnan(auroc(scores, np.ones(6, bool)))
    assert spearman(scores, scores**3) == pytest.approx(1.0) and spearman(scores, -scores) == pytest.approx(-1.0)
    # average ranks for ties: ranks (1.5, 1.5, 3) against (1, 2, 3) give 0.8660…, not 1 or 0.5
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(np.sqrt(3) / 2)
    assert np.isnan(spearman(np.ones(6), scores)) and np.isnan(spearman(scores, np.ones(6)))


def test_a_constant_score_gets_the_chance_value_wherever_the_relevant_tokens_are():
    # no order is favoured: neither the start of the text nor its end (recency) gains from a tie
    for relevant in ([0, 0, 0, 1, 1], [1, 1, 0, 0, 0], [0, 1, 0, 1, 0]):
        relevant = np.array(relevant, bool)
        assert precision_at_k(np.zeros(5), relevant, 2) == pytest.approx(2 / 5)
        assert hit_at_k(np.zeros(5), relevant, 1) == pytest.approx(2 / 5)
        assert hit_at_k(np.zeros(5), relevant, 2) == pytest.approx(1 - (3 / 5) * (2 / 4))
    rows = precision_at_k(np.array([np.zeros(5), np.arange(5.0)]), np.array([0, 0, 0, 1, 1], bool), 2)
    assert rows.tolist() == pytest.approx([2 / 5, 1.0])  # options at once, as chapter 5's tables call it


def test_content_words_follow_the_stop_word_list_and_cover_sub_words():
    text = "The whale swam through the ocean"
    offsets = [(0, 3), (3, 6), (6, 9), (9, 14), (14, 22), (22, 26), (26, 29), (29, 32)]  # " whale" split in two
    mask = content_word_mask(text, offsets)
    assert mask.tolist() == [False, True, True, True, False, False, True, True]


@pytest.mark.parametrize("task", TASKS)
def test_planted_prompts_are_seeded_and_mark_their_answer(task, tiny_model_dir):
    from transformers import AutoTokenizer

    assert generate_planted(task, 5, seed=3) == generate_planted(task, 5, seed=3)
    assert generate_planted(task, 5, seed=3) != generate_planted(task, 5, seed=4)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for prompt in generate_planted(task, 10):
        encoded = encode_planted(prompt, tokenizer)
        marked = "".join(tokenizer.decode([i]) for i, b in zip(encoded.ids, encoded.answer_bearing) if b)
        for start, end in prompt.spans:
            assert prompt.text[start:end] in marked
        assert not encoded.answer_bearing[0]
        assert prompt.answer.strip().startswith(tokenizer.decode([encoded.answer_id]).strip())


def test_an_unknown_task_is_one_clear_error():
    with pytest.raises(ValueError, match="choose one of copy, recall"):
        generate_planted("nope", 3)


def test_context_scores_on_a_tiny_model(tiny_model_dir):
    from llmgeom.experiments.selection import SELECTORS, score_context_tokens
    from llmgeom.models.loading import load

    loaded = load(str(tiny_model_dir), attentions=True)
    rng = np.random.default_rng(0)
    ids = [list(rng.integers(5, 250, n)) for n in (9, 12, 7)]
    scores = score_context_tokens(loaded, ids, [1, 2])
    assert scores.lasso_update.shape == (3, 2, 10) and scores.attention.shape == (3, 2, 5, 10)
    assert scores.n_candidates.tolist() == [7, 10, 5]
    assert np.isnan(scores.lasso_state[2, 0, 5:]).all() and np.isfinite(scores.lasso_state[2, 0, :5]).all()
    for name in SELECTORS:
        assert scores.text(name, 0, 1).shape == (7,)
    np.testing.assert_allclose(np.nansum(scores.attention[:, :, -1], axis=-1) + scores.sink_mass <= 1 + 1e-6, True)
    again = score_context_tokens(loaded, ids, [1, 2])
    np.testing.assert_array_equal(again.lasso_update, scores.lasso_update)
    with pytest.raises(ValueError, match="blocks must be in 1..2"):
        score_context_tokens(loaded, ids, [3])


def test_per_text_metric_gives_chance_for_random_and_one_for_a_perfect_selector():
    from llmgeom.experiments.selection import ContextScores, per_text_metric

    rng = np.random.default_rng(0)
    n_texts, m = 400, 12
    lasso = rng.random((n_texts, 1, m))
    scores = ContextScores((1,), lasso, lasso, np.zeros((n_texts, 1, 3, m)), np.zeros((n_texts, 1)),
                           np.zeros((n_texts, 1)), np.full(n_texts, m))
    truths = [lasso[t, 0] for t in range(n_texts)]
    assert np.nanmean(per_text_metric(scores, "lasso (update)", truths, spearman)) == pytest.approx(1.0)
    assert abs(np.nanmean(per_text_metric(scores, "random", truths, spearman))) < 0.05
    assert scores.text("attention (head 2)", 0, 0).shape == (m,)
    with pytest.raises(ValueError, match="unknown selector"):
        scores.text("nope", 0, 0)


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.integers(0, 5, 30).astype(float), rng.standard_normal(30)
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_the_best_option_is_chosen_on_the_other_fold():
    # every option wins somewhere and the values differ, so the returned vector names the column used per fold
    table = np.array([
        [0.1, 0.2, 0.3, 0.9],  # even texts: option 3 is best (mean 0.8)
        [0.5, 0.8, 0.4, 0.0],  # odd texts: option 1 is best (mean 0.8)
        [0.2, 0.1, 0.4, 0.7],
        [0.6, 0.7, 0.3, 0.1],
        [0.0, 0.3, 0.2, 0.8],
        [0.4, 0.9, 0.5, 0.2],
    ])
    # even texts get option 1 (chosen on the odd ones), odd texts option 3 (chosen on the even ones); choosing on
    # the text's own fold, on all texts (option 1), by halves instead of parity, by the lowest mean, or always
    # option 0 or 1 each give a different vector
    expected = [0.2, 0.0, 0.1, 0.1, 0.3, 0.2]
    np.testing.assert_allclose(cross_validated_best(table), expected)
    # a missing value does not knock its option out of the choice (the mean skips it) …
    holed = table.copy()
    holed[3, 1] = np.nan
    np.testing.assert_allclose(cross_validated_best(holed), expected)
    # … and a text with no other fold to choose on gets no value rather than its own best
    assert np.isnan(cross_validated_best(np.array([[0.3, 0.9, 0.1]]))).all()


@pytest.mark.parametrize("seed", range(5))
def test_lars_and_coordinate_descent_paths_agree_on_the_entry_order(seed):
    rng = np.random.default_rng(seed)
    context = rng.standard_normal((15, 200))
    target = context[:6].T @ np.array([1.0, 0.7, 0.5, 0.35, 0.25, 0.15]) + 0.05 * rng.standard_normal(200)
    lars = np.argsort(-lasso_entry_scores(context, target, method="lars"))[:4]
    cd = np.argsort(-lasso_entry_scores(context, target, method="cd", n_alphas=400, eps=1e-4))[:4]
    assert list(lars) == list(cd)
    with pytest.raises(ValueError, match="'lars' or 'cd'"):
        lasso_entry_scores(context, target, method="nope")


def test_the_position_prior_is_estimated_on_the_other_fold_only():
    rng = np.random.default_rng(0)
    truths = [rng.random(int(m)) < 0.3 for m in rng.integers(4, 9, 20)]
    prior = position_prior(truths)
    changed = [t.copy() for t in truths]
    for t in range(0, 20, 2):  # a fold's own truths never reach its own scores
        changed[t] = ~changed[t]
    again = position_prior(changed)
    np.testing.assert_array_equal(prior[0::2], again[0::2])
    assert not np.array_equal(np.nan_to_num(prior[1::2]), np.nan_to_num(again[1::2]))


def test_the_position_prior_finds_a_fixed_distance_and_gives_an_unseen_one_the_mean():
    # the answer always two tokens before the query: the prior ranks it first on every text of the other fold
    truths = [np.arange(m) == m - 2 for m in (5, 6, 7, 8, 5, 6)]
    prior = position_prior(truths)
    for t, truth in enumerate(truths):
        assert auroc(prior[t, 0, : len(truth)], truth) == 1.0
    # a distance the other fold never shows gets that fold's overall rate
    lonely = position_prior([np.array([True, False, False]), np.array([False, True])])
    np.testing.assert_allclose(lonely[0, 0], [0.5, 0.0, 1.0])  # distance 3 is unseen in the other fold: its mean
