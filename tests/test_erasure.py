"""Masking tokens out (chapters 5–6): masks, log-probabilities against a plain forward pass, batching, cache."""

import numpy as np
import pytest
import torch

from llmgeom.core.ridge import prepare_states, ridge_gains
from llmgeom.measure.erasure import erasure_effects, masked_runs, removal_mask, single_erasure_masks
from llmgeom.models.loading import load


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load(str(tiny_model_dir))


def texts(n=3, length=12, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(5, 250, length - i)) for i in range(n)], list(rng.integers(5, 250, n))


def test_without_a_layer_no_gains_are_computed_and_log_probabilities_agree_to_rounding(tiny):
    """Without a layer each masked copy runs from its first removed position on, over the unaltered text's keys and
    values (forward.variant_logits); with one, every copy runs whole: the two agree to float32 rounding."""
    ids, targets = texts()
    keep = [np.vstack([np.ones(len(i), bool), removal_mask(len(i), [2, 5])]) for i in ids]
    full = masked_runs(tiny, ids, targets, keep, use_cache=False)
    light = masked_runs(tiny, ids, targets, keep, layer=None, use_cache=False)
    for a, b in zip(full.logprob, light.logprob):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)
        assert not np.array_equal(a[1:], a[:1].repeat(len(a) - 1))  # the removals changed something
    for a, b in zip(full.top_id, light.top_id):
        assert np.array_equal(a, b)
    assert all(np.isnan(g).all() for g in light.last_gain)
    assert all(np.isfinite(g).all() for g in full.last_gain)


def test_masks():
    keep = single_erasure_masks(5)
    assert keep.tolist() == [[1, 1, 1, 1, 1], [1, 0, 1, 1, 1], [1, 1, 0, 1, 1], [1, 1, 1, 0, 1]]
    assert removal_mask(5, [1, 3]).tolist() == [True, False, True, False, True]
    with pytest.raises(ValueError, match="sink"):
        removal_mask(5, [0])
    with pytest.raises(ValueError, match="sink"):
        removal_mask(5, [4])


def test_log_probabilities_and_gains_match_a_plain_forward_pass(tiny):
    ids, targets = texts()
    keep = [np.vstack([np.ones(len(i), bool), removal_mask(len(i), [2, 5])]) for i in ids]
    runs = masked_runs(tiny, ids, targets, keep, use_cache=False)
    for text, (i, target) in enumerate(zip(ids, targets)):
        for row in range(2):
            mask = torch.from_numpy(keep[text][row]).long()[None]
            with torch.no_grad():
                out = tiny.model(input_ids=torch.tensor([i]), attention_mask=mask, output_hidden_states=True)
            expected = torch.log_softmax(out.logits[0, -1], -1)[target].item()
            assert runs.logprob[text][row] == pytest.approx(expected, abs=1e-5)
            states = out.hidden_states[-1][0].numpy()[keep[text][row]]
            assert runs.last_gain[text][row] == pytest.approx(ridge_gains(prepare_states(states), 0.1)[-1], abs=1e-5)
        assert runs.logprob[text][1] != pytest.approx(runs.logprob[text][0], abs=1e-7)  # masking does something


def test_batching_does_not_change_results_and_the_cache_returns_them(tiny, isolated_cache):
    ids, targets = texts(4)
    one = erasure_effects(tiny, ids, targets, batch_size=1, use_cache=False)
    many = erasure_effects(tiny, ids, targets, batch_size=64)
    cached = erasure_effects(tiny, ids, targets, batch_size=64)
    assert [len(e) for e in one] == [len(i) - 2 for i in ids]
    for a, b, c in zip(one, many, cached):
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_array_equal(b, c)
    assert list(isolated_cache.glob("results/masked_runs-*.npz"))


def test_bad_masks_are_refused_in_one_line(tiny):
    ids, targets = texts(1)
    keep = np.ones((1, len(ids[0])), bool)
    keep[0, 0] = False
    with pytest.raises(ValueError, match="token 0 must be kept"):
        masked_runs(tiny, ids, targets, [keep])
    with pytest.raises(ValueError, match="positions for a text"):
        masked_runs(tiny, ids, targets, [np.ones((1, 3), bool)])


def test_top_id_is_the_most_likely_next_token(tiny):
    ids, targets = texts(2)
    runs = masked_runs(tiny, ids, targets, [np.ones((1, len(i)), bool) for i in ids], use_cache=False)
    for i, top in zip(ids, runs.top_id):
        with torch.no_grad():
            assert top[0] == tiny.model(input_ids=torch.tensor([i])).logits[0, -1].argmax().item()


def test_top_k_positions_and_position_matching():
    from llmgeom.measure.erasure import position_matched, top_k_positions

    assert top_k_positions([0.1, 0.9, 0.5, 0.9], 2).tolist() == [2, 4]
    assert top_k_positions(np.zeros(4), 1).tolist() == [4]  # a tie goes to the latest token
    with pytest.raises(ValueError, match="k must be"):
        top_k_positions([1.0, 2.0], 3)
    picks = [np.array([i + 1]) for i in range(6)]
    matched = position_matched(picks, seed=1)
    assert sorted(int(m[0]) for m in matched) == [1, 2, 3, 4, 5, 6]
    assert all(int(m[0]) != int(p[0]) for m, p in zip(matched, picks))
