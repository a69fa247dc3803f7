"""The one forward pass (llmgeom.models.forward.run_model), the model fingerprint and the one cached-result helper."""

import numpy as np
import pytest
import torch

from llmgeom.models.forward import run_model
from llmgeom.models.loading import load
from llmgeom.store.cache import cached_arrays


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load(str(tiny_model_dir))


def test_last_logits_are_the_full_forward_passs_last_positions(tiny):
    ids = torch.randint(0, 200, (3, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 4] = 0  # a masked-out context token, as in chapters 5 and 6
    with torch.no_grad():
        full = tiny.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    for k in (1, 5):
        kept = run_model(tiny, ids, mask, last_logits=k).logits
        assert kept.shape == (3, k, full.shape[-1])
        np.testing.assert_allclose(kept.numpy(), full[:, -k:].numpy(), rtol=1e-5, atol=1e-5)


def test_the_backbone_pass_gives_the_language_models_hidden_states_without_logits(tiny):
    ids = torch.randint(0, 200, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = tiny.model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
    out = run_model(tiny, ids, hidden_states=True)
    assert getattr(out, "logits", None) is None
    assert len(out.hidden_states) == tiny.n_layers + 1
    for a, b in zip(out.hidden_states, reference):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert not out.hidden_states[-1].requires_grad


def test_the_fingerprint_follows_the_weights_not_the_object(tiny_model_dir):
    a, b = load(str(tiny_model_dir)), load(str(tiny_model_dir))
    assert a.fingerprint == b.fingerprint  # the same files: the same cache key
    c = load(str(tiny_model_dir))
    with torch.no_grad():
        next(c.model.parameters()).add_(1.0)
    c.__dict__.pop("fingerprint", None)
    assert c.fingerprint != a.fingerprint  # other weights: another key


def test_cached_arrays_computes_once_and_keys_on_every_input():
    calls = []

    def compute(value):
        calls.append(value)
        return {"x": np.array([value])}

    first = cached_arrays("demo", lambda: compute(1.0), model="m", setting=1)
    again = cached_arrays("demo", lambda: compute(99.0), model="m", setting=1)
    other = cached_arrays("demo", lambda: compute(2.0), model="m", setting=2)
    fresh = cached_arrays("demo", lambda: compute(3.0), use_cache=False, model="m", setting=1)
    assert calls == [1.0, 2.0, 3.0]  # the second call was a hit: compute did not run
    assert first["x"][0] == again["x"][0] == 1.0 and other["x"][0] == 2.0 and fresh["x"][0] == 3.0


# ------------------------------------------------------------------ the shared-prefix path (forward.variant_logits)


def erasure_and_donor_rows(texts, seed=0):
    """Every single-token erasure of every text, and one resampled variant (two tokens from another text)."""
    from llmgeom.measure.erasure import single_erasure_masks

    rng = np.random.default_rng(seed)
    rows = []
    for t, ids in enumerate(texts):
        rows += [(t, ids, keep) for keep in single_erasure_masks(len(ids))]
        variant = ids.copy()
        variant[2:4] = rng.integers(5, 250, 2)
        rows.append((t, variant, np.ones(len(ids), bool)))
    return rows


def largest_difference(loaded, texts, last_logits=2):
    """``max |Δ log p|`` over every row and vocabulary entry, shared-prefix path against whole rows."""
    from llmgeom.models.forward import variant_logits

    rows = erasure_and_donor_rows(texts)

    def reduce(logits, indices):
        return list(torch.log_softmax(logits, dim=-1).numpy())

    shared = variant_logits(loaded, texts, rows, last_logits, reduce, batch_size=8)
    whole = variant_logits(loaded, texts, rows, last_logits, reduce, batch_size=8, shared=False)
    return max(float(np.abs(a - b).max()) for a, b in zip(shared, whole))


def some_texts(lengths=(12, 12, 15), high=250, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(5, high, n) for n in lengths]


def test_the_shared_prefix_path_equals_whole_rows_on_a_tiny_model_with_and_without_a_bos(tiny, bos_model):
    # measured: 0 to 2e-7 on these float32 models (another batch shape rounds differently, nothing more)
    for loaded in (tiny, bos_model):
        assert largest_difference(loaded, some_texts()) < 1e-5


@pytest.mark.parametrize("name", ["ladder-w128-l3", "smollm2-135m", "gemma-3-270m"])
def test_the_shared_prefix_path_equals_whole_rows_on_the_books_models(name):
    # measured on this machine: 1e-5 (ladder), 4e-5 (SmolLM2) and 2e-5 (Gemma-3) in log-probabilities over
    # whole vocabularies, float32 rounding; any real difference (a wrong prefix, a shifted position) is of order 1
    torch.set_num_threads(1)
    loaded = load(name, attentions=True)
    assert largest_difference(loaded, some_texts(high=2000, seed=1)) < 2e-4


def tiny_sliding_model(folder, window=8):
    """A 2-block Gemma-3 (a sliding-window block, then a global one) whose tokenizer adds a BOS."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from conftest import make_bos_tokenizer

    tokenizer = make_bos_tokenizer()
    config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, head_dim=8, intermediate_size=64, sliding_window=window,
                              layer_types=["sliding_attention", "full_attention"], max_position_embeddings=256,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return load(str(folder), attentions=True)


def test_a_sliding_window_refuses_the_shared_prefix_past_its_window_and_is_exact_within_it(tmp_path, monkeypatch):
    from llmgeom.models import forward

    loaded = tiny_sliding_model(tmp_path / "sliding", window=8)
    short, long = some_texts(lengths=(5, 6)), some_texts(lengths=(14, 16))
    assert forward.shares_prefixes(loaded, 1 + 6) and not forward.shares_prefixes(loaded, 1 + 14)
    assert largest_difference(loaded, short) < 1e-5  # within the window: shared, and exact
    assert largest_difference(loaded, long) == 0.0  # past it: both paths run whole rows
    # the guard is needed: forced past the window, the sliding block's cache holds the last positions, not the prefix
    monkeypatch.setattr(forward, "shares_prefixes", lambda loaded, length: True)
    assert largest_difference(loaded, long) > 1e-3


def test_start_batches_cover_every_row_once_within_the_span_and_the_batch_size():
    from llmgeom.models.forward import RECOMPUTED_SPAN, _start_batches

    starts = [5, 0, 3, 12, 9, 1, 20, 8, 0, 2]
    batches = _start_batches([(s, i) for i, s in enumerate(starts)], batch_size=3)
    assert sorted(i for _, rows in batches for i in rows) == list(range(len(starts)))
    for first, rows in batches:
        assert len(rows) <= 3 and first == min(starts[i] for i in rows)
        assert max(starts[i] for i in rows) - first < RECOMPUTED_SPAN
