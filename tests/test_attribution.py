"""Attribution baselines: gradient × input against a finite difference, rollout by hand, value norms, id-match."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmgeom.data.feeding import model_input, text_encoding
from llmgeom.measure.attribution import (attention_rollout, gradient_x_input, id_match_scores, value_norms,
                                         value_weighted_attention)
from llmgeom.measure.extract import hidden_states_for_ids
from llmgeom.models.loading import load

TEXT = "Call me Ishmael. Some years ago, never mind how long precisely."


def test_id_match_marks_exactly_the_copies_of_the_prediction():
    np.testing.assert_array_equal(id_match_scores([5, 9, 5, 2], 5), [1.0, 0.0, 1.0, 0.0])
    assert id_match_scores([1, 2, 3], 7).sum() == 0


def test_gradient_x_input_matches_a_finite_difference(bos_model):
    # float64 weights; Llama's norms still compute in float32, hence a step of 1e-2 (central difference, O(h²))
    bos_model.model.double()
    try:
        ids = text_encoding(bos_model.tokenizer, TEXT)[:12]
        target = 17
        scores = gradient_x_input(bos_model, [ids], [target])[0][0]
        assert scores.shape == (len(ids),)
        embed = bos_model.model.get_input_embeddings()
        full = torch.tensor([model_input(bos_model.prefix_ids, ids)])

        def logp(position, scale):
            with torch.no_grad():
                e = embed(full).clone()
                e[0, 1 + position] *= scale  # + 1: the BOS comes first
                return torch.log_softmax(bos_model.model(inputs_embeds=e).logits[0, -1], dim=-1)[target].item()

        for position in (0, 5, len(ids) - 1):
            h = 1e-2
            finite = (logp(position, 1 + h) - logp(position, 1 - h)) / (2 * h)
            assert scores[position] == pytest.approx(finite, rel=1e-3, abs=2e-6)
    finally:
        bos_model.model.float()


def test_gradient_x_input_gives_the_sum_and_the_l2_norm_of_gradient_times_input_from_one_pass(bos_model):
    ids = text_encoding(bos_model.tokenizer, TEXT)[:12]
    signed, norms = gradient_x_input(bos_model, [ids], [17])
    embeddings = bos_model.model.get_input_embeddings()(torch.tensor([model_input(bos_model.prefix_ids, ids)]))
    embeddings = embeddings.detach().requires_grad_(True)
    with torch.enable_grad():
        logp = torch.log_softmax(bos_model.model(inputs_embeds=embeddings).logits[0, -1].float(), dim=-1)[17]
        (grad,) = torch.autograd.grad(logp, embeddings)
    product = (grad * embeddings.detach())[0, 1:]  # the BOS comes first, and is left out
    np.testing.assert_allclose(signed[0], product.sum(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(norms[0], product.norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
    assert (norms[0] >= np.abs(signed[0]) / np.sqrt(embeddings.shape[-1]) - 1e-7).all()


def test_rollout_by_hand_and_with_the_bos_put_back():
    a1 = np.array([[[1.0, 0.0], [0.25, 0.75]]])  # one head
    a2 = np.array([[[1.0, 0.0], [0.5, 0.5]]])
    mix = lambda a: (0.5 * np.eye(2) + 0.5 * a[0]) / (0.5 * np.eye(2) + 0.5 * a[0]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(attention_rollout(np.stack([a1, a2])), mix(a2) @ mix(a1))
    # a model with a BOS: text rows that put weight on it; the result equals rolling out the full matrix
    full = np.array([[[[1.0, 0, 0], [0.6, 0.4, 0], [0.5, 0.2, 0.3]]], [[[1.0, 0, 0], [0.3, 0.7, 0], [0.1, 0.6, 0.3]]]])
    by_parts = attention_rollout(full[:, :, 1:, 1:], prefix_attention=full[:, :, 1:, 0])
    np.testing.assert_allclose(by_parts, attention_rollout(full)[1:, 1:])


def test_value_norms_equal_the_value_projection(bos_model):
    ids = text_encoding(bos_model.tokenizer, TEXT)[:10]
    norms = value_norms(bos_model, [ids], blocks=[1, 2])[0]
    config = bos_model.model.config
    assert norms.shape == (2, config.num_attention_heads, len(ids))
    with torch.no_grad():
        out = bos_model.model(input_ids=torch.tensor([model_input(bos_model.prefix_ids, ids)]), output_hidden_states=True)
        layer = bos_model.model.model.layers[1]
        v = layer.self_attn.v_proj(layer.input_layernorm(out.hidden_states[1]))[0, 1:]
    head_dim = config.hidden_size // config.num_attention_heads
    v = v.view(len(ids), config.num_key_value_heads, head_dim).norm(dim=-1).T.numpy()
    group = config.num_attention_heads // config.num_key_value_heads
    np.testing.assert_allclose(norms[1], np.repeat(v, group, axis=0), rtol=1e-5)


def test_value_norms_read_gpt_neox_blocks(tiny_model_dir):
    tiny = load(str(tiny_model_dir), attentions=True)
    ids = text_encoding(tiny.tokenizer, TEXT)[:10]
    norms = value_norms(tiny, [ids], blocks=[2])[0]
    config = tiny.model.config
    with torch.no_grad():
        out = tiny.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
        layer = tiny.model.gpt_neox.layers[1]
        qkv = layer.attention.query_key_value(layer.input_layernorm(out.hidden_states[1]))
    head_dim = config.hidden_size // config.num_attention_heads
    v = qkv.view(1, len(ids), config.num_attention_heads, 3 * head_dim)[0, :, :, 2 * head_dim:]
    np.testing.assert_allclose(norms[0], v.norm(dim=-1).T.numpy(), rtol=1e-5)
    weights = hidden_states_for_ids(tiny, [ids], layers=[2], attentions=True)[0]["attentions"][0]
    scores = value_weighted_attention(weights, norms[0])
    np.testing.assert_allclose(scores[-1], (weights[:, -1, :] * norms[0]).mean(axis=0), rtol=1e-6)  # float32 sums


def test_value_norms_in_padded_batches_equal_single_texts(bos_model):
    texts = [text_encoding(bos_model.tokenizer, t) for t in (TEXT, "To be, or not to be", "Call me")]
    together = value_norms(bos_model, texts, blocks=[2], batch_size=3)
    for ids, batched in zip(texts, together):
        np.testing.assert_allclose(batched, value_norms(bos_model, [ids], blocks=[2])[0], rtol=1e-5, atol=1e-6)
