"""Loading by path, padded batches equal to unpadded runs, truncation, caching and resuming."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from llmgeom.core.entropy import matrix_entropy
from llmgeom.measure import extract
from llmgeom.measure.extract import hidden_states, layer_entropy, parse_layers, tokenize
from llmgeom.models.loading import load
from llmgeom.store.cache import cache_root
from llmgeom.store.fetch import ModelUnavailable

TEXTS = [
    "To be, or not to be, that is the question.",
    "Call me Ishmael.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune",
    "Some years ago",
    "I thought I would sail about a little and see the watery part of the world.",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load(str(tiny_model_dir), attentions=True)


def unpadded(tiny, text):
    ids = torch.tensor([tiny.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        out = tiny.model(input_ids=ids, output_hidden_states=True, output_attentions=True)
    return out


def test_loads_a_local_folder_as_a_causal_lm(tiny, tiny_model_dir):
    assert not tiny.is_encoder
    assert tiny.n_layers == 2 and tiny.width == 32 and tiny.context_length == 64
    assert tiny.source == str(tiny_model_dir)


def test_padded_batches_equal_unpadded_runs_for_states_and_attentions(tiny):
    results = hidden_states(tiny, TEXTS, layers="all", batch_size=3, attentions=True)
    for text, result in zip(TEXTS, results):
        reference = unpadded(tiny, text)
        n = reference.hidden_states[0].shape[1]
        assert result["hidden"].shape == (3, n, 32)
        for layer in range(3):
            np.testing.assert_allclose(result["hidden"][layer], reference.hidden_states[layer][0].numpy(), atol=1e-5)
        assert result["attentions"].shape == (2, 4, n, n)
        for block in range(2):
            np.testing.assert_allclose(result["attentions"][block], reference.attentions[block][0].numpy(), atol=1e-5)


def test_attentions_are_real_weights(tiny):
    attn = hidden_states(tiny, TEXTS[:1], layers="last", attentions=True)[0]["attentions"][0]
    np.testing.assert_allclose(attn.sum(axis=-1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(attn, k=1), 0)  # causal


def test_layer_entropy_matches_per_text_computation(tiny):
    result = layer_entropy(tiny, TEXTS, layers="all", batch_size=2)
    for i, text in enumerate(TEXTS):
        reference = unpadded(tiny, text)
        for j in range(3):
            expected = matrix_entropy(reference.hidden_states[j][0]).entropy[0]
            assert result.entropy[i, j] == pytest.approx(expected, rel=1e-5)  # float32 Gram (see layer_entropy)


def test_drop_first_token_leaves_token_zero_out_of_sigma(tiny):
    result = layer_entropy(tiny, TEXTS, layers="last", drop_first_token=True)
    for i, text in enumerate(TEXTS):
        states = unpadded(tiny, text).hidden_states[-1][0]
        assert result.entropy[i, 0] == pytest.approx(matrix_entropy(states[1:]).entropy[0], rel=1e-5)
        assert result.n_tokens[i] == len(states) - 1


def test_truncation_to_the_context_window_warns(tiny):
    long_text = " ".join(TEXTS * 10)
    with pytest.warns(UserWarning, match="1 of 2 texts were longer than 64 tokens"):
        ids = tokenize(tiny, [long_text, TEXTS[0]])
    assert len(ids[0]) == 64
    with pytest.warns(UserWarning, match="longer than 10 tokens"):
        assert len(tokenize(tiny, [long_text], max_tokens=10)[0]) == 10


def test_layer_parsing_and_its_errors():
    assert parse_layers("all", 2) == [0, 1, 2]
    assert parse_layers("last", 2) == [2]
    assert parse_layers("0,-1", 2) == [0, 2]
    with pytest.raises(ValueError, match="out of range"):
        parse_layers("3", 2)
    with pytest.raises(ValueError, match="comma-separated"):
        parse_layers("first", 2)


def test_cache_hit_miss_and_corrupted_entry(tiny, monkeypatch):
    calls = []
    real_forward = extract._forward
    monkeypatch.setattr(extract, "_forward", lambda *a, **k: calls.append(1) or real_forward(*a, **k))
    first = layer_entropy(tiny, TEXTS, batch_size=2)
    assert len(calls) == 3  # miss: every batch computed
    second = layer_entropy(tiny, TEXTS, batch_size=2)
    assert len(calls) == 3  # hit: nothing recomputed
    np.testing.assert_array_equal(first.entropy, second.entropy)
    [entry] = (cache_root() / "results").glob("layer_entropy-*.npz")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))
    third = layer_entropy(tiny, TEXTS, batch_size=2)
    assert len(calls) == 6  # corrupt: detected by checksum, recomputed
    np.testing.assert_array_equal(first.entropy, third.entropy)


def test_an_interrupted_run_resumes_from_its_finished_batches(tiny, monkeypatch):
    reference = layer_entropy(tiny, TEXTS, batch_size=1, use_cache=False)
    calls = []
    real_forward = extract._forward

    def dies_on_the_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(extract, "_forward", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        layer_entropy(tiny, TEXTS, batch_size=1)
    resumed = layer_entropy(tiny, TEXTS, batch_size=1)
    assert len(calls) == 3 + 3  # two finished batches were kept; the other three ran
    np.testing.assert_array_equal(resumed.entropy, reference.entropy)


def test_unknown_hub_id_offline_fails_fast_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="hub cannot be reached"):
        load("no-such-org/no-such-model-xyz")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "llmgeom", "entropy", "--model", "no-such-org/no-such-model-xyz", "--corpus", "shakespeare"],
        capture_output=True, text=True, timeout=120,
    )
    assert time.perf_counter() - started < 30
    assert result.returncode == 1  # the model cannot be obtained: a runtime failure
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmgeom: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_that_is_not_a_model_says_so(tmp_path):
    with pytest.raises(ModelUnavailable, match="not a model folder"):
        load(str(tmp_path))


def test_layer_profile_gives_both_token_policies_and_the_norm_ratio_in_one_pass(tiny):
    from llmgeom.experiments.scaling import layer_profile

    profile = layer_profile(tiny, TEXTS)
    with_first = layer_entropy(tiny, TEXTS, layers="all")
    without_first = layer_entropy(tiny, TEXTS, layers="all", drop_first_token=True)
    np.testing.assert_allclose(profile["with_first"], with_first.entropy, atol=1e-10)
    np.testing.assert_allclose(profile["without_first"], without_first.entropy, atol=1e-10)
    states = unpadded(tiny, TEXTS[0]).hidden_states
    norms = torch.stack([h[0].norm(dim=-1) for h in states]).numpy()
    expected = norms[:, 0] / np.median(norms[:, 1:], axis=1)
    np.testing.assert_allclose(profile["norm_ratio"][0], expected, rtol=1e-5)
    again = layer_profile(tiny, TEXTS)
    np.testing.assert_array_equal(again["with_first"], profile["with_first"])


def test_empty_texts_warn_and_give_nan_not_a_crash(tiny):
    with pytest.warns(UserWarning, match="1 of 1 texts have no tokens"):
        result = layer_entropy(tiny, [""], use_cache=False)
    assert np.isnan(result.entropy).all() and not result.valid.any()
    with pytest.warns(UserWarning, match="1 of 3 texts have no tokens"):
        mixed = layer_entropy(tiny, ["", TEXTS[0], TEXTS[1]], layers="last", use_cache=False)
    np.testing.assert_array_equal(mixed.valid, [False, True, True])
    with pytest.warns(UserWarning, match="no tokens"):
        [states] = hidden_states(tiny, [""], layers="last")
    assert states["hidden"].shape == (1, 0, 32)


def test_non_finite_states_from_a_poisoned_weight_are_flagged_not_averaged(tiny_model_dir, tmp_path):
    import shutil

    from transformers import GPTNeoXForCausalLM

    poisoned = tmp_path / "poisoned"
    shutil.copytree(tiny_model_dir, poisoned)
    model = GPTNeoXForCausalLM.from_pretrained(poisoned)
    with torch.no_grad():
        model.gpt_neox.layers[1].mlp.dense_4h_to_h.weight[0, 0] = float("nan")
    model.save_pretrained(poisoned)
    loaded = load(str(poisoned))
    with pytest.warns(UserWarning, match="hold NaN or Inf"):
        result = layer_entropy(loaded, TEXTS, layers="all", use_cache=False)
    assert not result.valid.any()
    assert np.isfinite(result.entropy[:, :2]).all() and np.isnan(result.entropy[:, 2]).all()
    with pytest.raises(ValueError, match="none of the 5 texts has a spectrum"):
        result.summary()


def test_whitespace_and_one_token_texts_are_skipped_with_a_count(tiny):
    one_token = next(w for w in ["the", "a", "to"] if len(tiny.tokenizer(w, add_special_tokens=False)["input_ids"]) == 1)
    with pytest.warns(UserWarning, match=r"2 of 3 texts have no entropy: 2 with fewer than 2 tokens"):
        result = layer_entropy(tiny, [" ", one_token, TEXTS[0]], layers="last", use_cache=False)
    np.testing.assert_array_equal(result.valid, [False, False, True])
    assert result.summary()["n_skipped"] == 2


def test_the_float32_gram_agrees_with_float64_to_a_millionth(tiny):
    fast = layer_entropy(tiny, TEXTS, layers="all", use_cache=False)
    exact = layer_entropy(tiny, TEXTS, layers="all", use_cache=False, dtype=torch.float64)
    np.testing.assert_allclose(fast.entropy, exact.entropy, rtol=1e-5)
    assert not np.array_equal(fast.entropy, exact.entropy)  # two routes, not one


def test_float32_gram_on_real_scale_states_is_within_1e_5_relative():
    from llmgeom.core.entropy import matrix_entropy as entropy

    torch.manual_seed(0)
    states = torch.randn(8, 128, 576) * torch.logspace(0, 2, 576)  # anisotropic, like real states
    states[:, 0] *= 100.0  # a massive activation on token 0
    f32 = entropy(states.float(), dtype=torch.float32).entropy
    f64 = entropy(states.double(), dtype=torch.float64).entropy
    np.testing.assert_allclose(f32, f64, rtol=1e-5)
