"""Chapter 6's measurement (llmgeom.experiments.spread): resample ablation, the m-token loss and KL, the oracles, the rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmgeom.data.feeding import model_input
from llmgeom.experiments.spread import (MEANINGFUL, Effects, SpreadTexts, continuation_runs, cross_fitted_oracle,
                                        donor_table, fact_texts, naive_oracle, resampled, spread_experiment,
                                        top_k_effects)
from llmgeom.experiments.spreadverdict import (PAIRED_WITH, SpreadResult, bracket_reading, bracket_word,
                                               control_passes, decide_spread, literal_reading, paired_differences,
                                               per_passage_summary)


def test_resampled_replaces_only_the_removed_positions_with_the_donors_tokens_there():
    ids, donor = np.arange(10, 20), np.arange(100, 110)
    out = resampled(ids, [2, 5], donor)
    assert out[2] == donor[2] and out[5] == donor[5]
    assert (np.delete(out, [2, 5]) == np.delete(ids, [2, 5])).all()
    with pytest.raises(ValueError, match="as many tokens"):
        resampled(ids, [2], donor[:-1])


def test_donors_share_the_group_are_never_the_text_itself_and_small_groups_get_none():
    groups = ["a"] * 5 + ["b"] * 2
    donors = donor_table(groups, 2, seed=3)
    for i, d in enumerate(donors[:5]):
        assert len(d) == 2 and i not in d and all(groups[j] == "a" for j in d) and len(set(d)) == 2
    assert donors[5] == donors[6] == []  # a group of two cannot give each text two other donors
    received = np.bincount(sum(donors[:5], []), minlength=5)
    assert (received == 2).all()  # every text is a donor as often as it receives
    assert donor_table(groups, 2, seed=3) == donors


def random_texts(loaded, n_texts=6, n=12, n_targets=3, seed=0):
    rng = np.random.default_rng(seed)
    special = set(loaded.tokenizer.all_special_ids)
    vocab = np.array([i for i in range(len(loaded.tokenizer)) if i not in special])
    ids = [rng.choice(vocab, n, replace=False) for _ in range(n_texts)]
    return SpreadTexts(ids, [n_targets] * n_texts, donor_table([n] * n_texts, 2, seed), ["passage"] * n_texts,
                       [None] * n_texts, list(range(n_texts)))


def test_resampling_feeds_the_text_with_donor_tokens_at_removed_positions_and_nothing_else_changed(bos_model,
                                                                                                  monkeypatch):
    # whole rows, to read what each variant is (the shared-prefix path feeds suffixes; tests/test_forward.py shows
    # that it computes the same)
    monkeypatch.setattr("llmgeom.models.forward.shares_prefixes", lambda loaded, length: False)
    texts = random_texts(bos_model)
    seen = []
    hook = bos_model.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: seen.extend(args[0].cpu().tolist()))
    try:
        rankings = {"random": [np.random.default_rng(t).random(texts.n_candidates(t)) for t in range(len(texts))]}
        spread_experiment(bos_model, texts, rankings, (1, 4), seed=0)
    finally:
        hook.remove()
    bos = bos_model.tokenizer.bos_token_id
    n_changed = 0
    for row in seen:
        assert row[0] == bos
        row = np.array(row[1:])  # the model reads the text without its last target
        owner = [t for t, ids in enumerate(texts.ids) if (row[-3:] == ids[-4:-1]).all()]  # the query, two targets
        assert len(owner) == 1, "every fed row ends with one text's query and targets"
        ids = texts.ids[owner[0]][:-1]
        changed = np.flatnonzero(row != ids)
        n_changed += bool(len(changed))
        assert set(changed) <= set(range(1, texts.n_candidates(owner[0]) + 1)), "only context candidates change"
        donors = [texts.ids[d][:-1] for d in texts.donors[owner[0]]]
        assert any((row[changed] == d[changed]).all() for d in donors), "a changed token is a donor's at that position"
    assert n_changed > 0


def test_the_m_token_loss_and_the_kl_equal_plain_forward_passes(bos_model):
    texts = random_texts(bos_model, n_texts=2)
    ids, m = texts.ids[0], texts.n_targets[0]
    keep = np.ones((3, len(ids)), bool)
    keep[1, 4] = False
    variants = np.stack([ids, ids, resampled(ids, [2, 3], texts.ids[1])])
    runs = continuation_runs(bos_model, [variants], [keep], [m], use_cache=False)

    def plain(row, mask):
        inputs, full_mask = model_input(bos_model.prefix_ids, row[:-1], mask[:-1])
        with torch.no_grad():
            logits = bos_model.model(input_ids=torch.tensor([inputs]), attention_mask=torch.tensor(full_mask[None]).long()).logits[0]
        log_p = torch.log_softmax(logits.double(), dim=-1)
        loss = torch.nn.functional.nll_loss(log_p[-m:], torch.from_numpy(ids[-m:]))
        return float(loss), log_p[-m]

    reference = plain(ids, keep[0])
    for v in range(3):
        loss, first = plain(variants[v], keep[v])
        assert runs.loss[0][v] == pytest.approx(loss, rel=1e-5, abs=1e-6)
        kl = float((reference[1].exp() * (reference[1] - first)).sum())
        assert runs.kl[0][v] == pytest.approx(max(kl, 0.0), rel=1e-4, abs=1e-6)
    assert runs.kl[0][0] == 0 and runs.kl[0][1] > 0
    with pytest.raises(ValueError, match="query or a target"):
        bad = keep.copy()
        bad[1, -2] = False
        continuation_runs(bos_model, [variants], [bad], [m], use_cache=False)


def test_the_cross_fitted_oracle_is_unbiased_where_every_token_carries_the_same_share_and_the_naive_one_is_not():
    rng = np.random.default_rng(0)
    n_texts, n_donors, n_tokens, mu = 4000, 2, 18, 1.0
    by_donor = mu + rng.standard_normal((n_texts, n_donors, n_tokens))
    full = np.full(n_texts, mu * n_tokens)  # every token carries 1/18 of the whole context
    truth = 1 / n_tokens
    effects = Effects(full, by_donor, {("naive", 1): naive_oracle(by_donor),
                                       ("cross", 1): cross_fitted_oracle(by_donor)})
    naive, cross = effects.share("naive", 1), effects.share("cross", 1)
    assert cross[1] < truth < cross[2]
    assert naive[1] > 1.5 * truth  # the largest of 18 noisy effects
    # masking's version: chosen on the resampled effects, evaluated on an independent measurement
    evaluate = mu + rng.standard_normal((n_texts, n_tokens))
    assert np.mean(cross_fitted_oracle(by_donor, evaluate)) == pytest.approx(mu, abs=0.05)
    with pytest.raises(ValueError, match="at least two donors"):
        cross_fitted_oracle(by_donor[:, :1])


@pytest.mark.parametrize("n_donors", [2, 8])
def test_the_oracle_bracket_holds_one_dominant_token_and_eight_donors_make_it_tight(n_donors):
    # 18 tokens, one carrying 70 % of the whole context's effect; each donor measures every token with noise 0.3
    rng = np.random.default_rng(0)
    n_texts, n_tokens, dominant = 2000, 18, 0.7
    true = np.full(n_tokens, (1 - dominant) / (n_tokens - 1))
    true[3] = dominant
    by_donor = true + 0.3 * rng.standard_normal((n_texts, n_donors, n_tokens))
    full = np.ones(n_texts)
    effects = Effects(full, by_donor, {("naive", 1): naive_oracle(by_donor), ("cross", 1): cross_fitted_oracle(by_donor)})
    naive, cross = effects.share("naive", 1), effects.share("cross", 1)
    assert cross[1] <= dominant <= naive[2]  # the bracket, with its intervals, holds the truth
    if n_donors == 8:
        assert cross[0] == pytest.approx(dominant, abs=0.05)
    else:  # one noisy donor's choice: the cross-fitted estimate falls well below the truth
        assert cross[0] < dominant - 0.1


@pytest.mark.parametrize("cross, naive, word", [
    ((0.10, 0.05, 0.20), (0.25, 0.20, 0.30), "spread"),
    ((0.75, 0.70, 0.80), (0.85, 0.80, 0.90), "concentrated"),
    ((0.50, 0.40, 0.55), (0.55, 0.50, 0.60), "intermediate"),
    ((0.30, 0.25, 0.40), (0.40, 0.35, 0.45), "inconclusive"),   # the cross-fitted lower bound below 0.35
    ((0.55, 0.45, 0.60), (0.70, 0.60, 0.75), "inconclusive"),   # the naive upper bound above 0.65
])
def test_the_bracket_rule_on_every_outcome(cross, naive, word):
    assert bracket_word(cross, naive) == word


def effects_with(shares: dict, n=400, seed=0):
    """Effects whose sets carry the given true shares of a full effect of 1, with noise."""
    rng = np.random.default_rng(seed)
    full = 1 + 0.1 * rng.standard_normal(n)
    sets = {key: share * full + 0.05 * rng.standard_normal(n) for key, share in shares.items()}
    return {("resampling", "loss"): Effects(full, np.zeros((n, 2, 1)), sets)}


@pytest.mark.parametrize("shares, word", [((0.2, 0.3, 0.1), "reproduced"), ((0.2, 0.8, 0.1), "not reproduced"),
                                          ((0.2, 0.5, 0.1), "inconclusive")])
def test_the_literal_reading_asks_every_meaningful_selector_for_a_minority(shares, word):
    effects = effects_with({(s, 4): v for s, v in zip(MEANINGFUL, shares)})
    reading = literal_reading(effects, "resampling", "loss", 4)
    assert reading.word == word and set(reading.shares) == set(MEANINGFUL)


@pytest.mark.parametrize("share, passes", [(0.3, False), (0.7, True), (0.5, False)])
def test_the_control_reads_the_interval_against_one_half(share, passes):
    effects = effects_with({("answer-bearing", 0): share})
    assert control_passes(effects, "resampling", "loss")[0] == passes


def test_the_bracket_reading_reads_both_oracles_at_one_token():
    effects = effects_with({("oracle (cross-fitted)", 1): 0.5, ("oracle (naive)", 1): 0.55})
    reading = bracket_reading(effects)
    assert reading.word == "intermediate" and set(reading.shares) == {"oracle (cross-fitted)", "oracle (naive)"}


def test_paired_differences_are_shares_of_the_same_passages_whole_effect():
    shares = {**{(s, 4): 0.3 for s in MEANINGFUL}, (PAIRED_WITH[0], 4): 0.1, (PAIRED_WITH[1], 4): 0.3}
    out = paired_differences(effects_with(shares), 4)
    assert set(out) == {(s, b) for s in MEANINGFUL for b in PAIRED_WITH}
    for s in MEANINGFUL:
        assert out[s, PAIRED_WITH[0]][0] == pytest.approx(0.2, abs=0.02) and out[s, PAIRED_WITH[0]][1] > 0
        assert out[s, PAIRED_WITH[1]][1] < 0 < out[s, PAIRED_WITH[1]][2]


def test_the_per_passage_summary_weights_passages_equally_and_skips_those_without_an_effect():
    full = np.array([1.0, 1.0, 1.0, 100.0, 0.0, -1.0])
    best = np.array([0.6, 0.7, 0.2, 10.0, 0.5, 0.5])  # the ratio of means (11.5 / 102) hides three passages over half
    summary = per_passage_summary(Effects(full, np.zeros((6, 1, 1)), {("oracle", 1): best}), "oracle", 1, n_boot=200)
    assert summary["n"] == 4 and summary["n_total"] == 6
    assert summary["median"][0] == pytest.approx(np.median([0.6, 0.7, 0.2, 0.1]))
    assert summary["over_half"][0] == pytest.approx(0.5)


def test_a_failing_natural_control_leaves_both_readings_inconclusive_and_a_passing_one_lets_them_speak():
    literal = effects_with({**{(s, 4): 0.2 for s in MEANINGFUL}, **{(b, 4): 0.1 for b in PAIRED_WITH}})
    oracles = effects_with({("oracle (cross-fitted)", 1): 0.1, ("oracle (naive)", 1): 0.15})
    for share, passes in ((0.9, True), (0.2, False)):
        control = effects_with({("answer-bearing", 0): share})
        verdict = decide_spread(SpreadResult(oracles, literal, control, None, {}), 4, n_boot=200)
        assert verdict.passes == passes and not verdict.controls["planted"][0]
        assert np.isnan(verdict.controls["planted"][1]).all()
        if passes:
            assert (verdict.bracket.word, verdict.literal.word) == ("spread", "reproduced")
        else:
            assert verdict.bracket.word == verdict.literal.word == "inconclusive (its control fails)"
        assert set(verdict.per_passage) == {("oracle (cross-fitted)", 1), *((s, 4) for s in MEANINGFUL)}


def test_sets_read_the_first_set_donors_while_single_tokens_and_the_whole_context_read_every_donor(bos_model):
    texts = random_texts(bos_model, n_texts=5)
    texts.donors = donor_table([len(i) for i in texts.ids], 3, 0)
    rankings = {"random": [np.random.default_rng(t).random(texts.n_candidates(t)) for t in range(len(texts))]}
    few = spread_experiment(bos_model, texts, rankings, (1, 4), seed=0, set_donors=2)
    two = SpreadTexts(texts.ids, texts.n_targets, [d[:2] for d in texts.donors], texts.kind, texts.bearing, texts.source)
    alone = spread_experiment(bos_model, two, rankings, (1, 4), seed=0)
    every = spread_experiment(bos_model, texts, rankings, (1, 4), seed=0)
    for measure in ("loss", "kl"):
        key = ("resampling", measure)
        np.testing.assert_allclose(few[key].sets["random", 4], alone[key].sets["random", 4], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(few[key].full, every[key].full, rtol=1e-6, atol=1e-7)
        assert few[key].single.shape[1] == 3
    # the resampling-only path of the literal reading measures the same sets from the same donors
    top = top_k_effects(bos_model, texts, rankings, 4)
    for measure in ("loss", "kl"):
        np.testing.assert_allclose(top["resampling", measure].sets["random", 4], every["resampling", measure].sets["random", 4],
                                   rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(top["resampling", measure].full, every["resampling", measure].full, rtol=1e-6, atol=1e-7)


def test_the_natural_control_plants_the_fact_before_a_passage_and_marks_only_the_places_tokens():
    from llmgeom.data.planted import PLACES
    from llmgeom.models.loading import load

    tok = load("smollm2-135m").tokenizer
    texts = fact_texts(tok, "shakespeare", 24, 20, seed=0)
    assert len(texts) >= 20 and len({tok.decode(a) for _, a, _ in texts}) >= 4  # several places
    for context, answer, bearing in texts:
        assert tok.decode(answer).strip() in PLACES
        marked = [context[j + 1] for j in np.flatnonzero(bearing)]
        assert marked == answer and bearing.shape == (len(context) - 2,)
        assert tok.decode(context).endswith(" is in the") and tok.decode(context).count(tok.decode(answer).strip()) >= 1


def test_planted_prompts_carry_every_token_of_their_answer():
    from llmgeom.data.planted import NON_IDENTITY_TASKS, encode_planted, generate_planted
    from conftest import make_tokenizer

    tok = make_tokenizer()
    for task in NON_IDENTITY_TASKS:
        for prompt in generate_planted(task, 5):
            encoded = encode_planted(prompt, tok)
            assert encoded.answer_ids[0] == encoded.answer_id
            assert tok.decode(list(encoded.answer_ids)).strip() == prompt.answer.strip()


def test_the_literal_rankings_at_the_chosen_blocks_equal_the_rankings_read_from_every_block(tiny_long_model_dir,
                                                                                            monkeypatch):
    from llmgeom.experiments.selectors import HEAD_MEAN, LASSO_STATE
    from llmgeom.experiments.spread import LITERAL_SELECTORS, literal_rankings, passage_spread_texts, selector_rankings
    from llmgeom.experiments.tokenselect import SELECTORS as ALL, passage_texts, planted_texts
    from llmgeom.models.loading import load

    tiny = load(str(tiny_long_model_dir), attentions=True)
    # the state-Lasso chosen at the second block, attention at the first: each must be read at its own block
    chosen = {s: 0 for s in ALL} | {LASSO_STATE: 1, HEAD_MEAN: 0}
    monkeypatch.setattr("llmgeom.experiments.spread.chosen_options", lambda loaded, planted, blocks: chosen)
    scored = passage_texts(tiny, "shakespeare", 8, 10)
    texts = passage_spread_texts(tiny, scored, "shakespeare", 8, 2, 2)
    planted = planted_texts(tiny, ["copy"], 2)
    few = literal_rankings(tiny, texts, scored, planted, [1, 2])
    every = selector_rankings(tiny, texts, scored, planted, [1, 2])
    assert list(few) == list(LITERAL_SELECTORS) and len(texts) >= 6
    for selector in LITERAL_SELECTORS:
        for a, b in zip(few[selector], every[selector]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_the_natural_controls_donors_are_natural_passages_of_each_texts_length_and_never_its_own():
    from llmgeom.experiments.spread import fact_control_texts
    from llmgeom.models.loading import load

    smol = load("smollm2-135m")
    texts = fact_control_texts(smol, "shakespeare", 12, 20, n_donors=3, seed=0)
    assert len(texts) >= 8, "SmolLM2 answers most planted facts"
    for t, ids in enumerate(texts.ids):
        donors = texts.donor_ids(t)
        assert len(donors) == 3 and all(len(d) == len(ids) for d in donors)
        assert all(not np.array_equal(d, other) for d in donors for other in texts.ids)  # natural text, not a fact text
        context = ids[: -texts.n_targets[t]]
        assert texts.bearing[t].sum() == texts.n_targets[t] and context[1:-1][texts.bearing[t]].tolist() == ids[-texts.n_targets[t]:].tolist()
