"""Every model fed as it was trained: a BOS model reads its BOS in every input and no statistic ever sees it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from llmgeom.core.entropy import matrix_entropy
from llmgeom.core.ridge import prepare_states, ridge_gains
from llmgeom.data.corpora import sample_passages
from llmgeom.data.feeding import model_input, prefix_ids, text_encoding
from llmgeom.experiments.selection import score_context_tokens
from llmgeom.measure.erasure import masked_runs, single_erasure_masks
from llmgeom.measure.extract import hidden_states, hidden_states_for_ids, layer_entropy, tokenize
from llmgeom.measure.loss import next_token_loss
from llmgeom.models.loading import load
from conftest import make_bos_tokenizer

TEXTS = [
    "To be, or not to be, that is the question.",
    "Call me Ishmael. Some years ago, never mind how long precisely.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune",
]


@pytest.fixture
def seen_inputs(bos_model):
    """Every ``input_ids`` row the model reads during a test, recorded at its embedding layer."""
    rows = []
    hook = bos_model.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: rows.extend(args[0].cpu().tolist()))
    yield rows
    hook.remove()


def assert_bos_first_and_only(rows, bos, pad):
    assert rows, "the model ran no forward pass"
    for row in rows:
        assert row[0] == bos, "an input does not start with the BOS"
        assert bos not in row[1:], "the BOS appears inside a text"
        assert row[1] != pad


def direct(loaded, ids, with_bos=True):
    """The reference: one unpadded forward pass of exactly ``[BOS] + ids``."""
    inputs = torch.tensor([model_input(loaded.prefix_ids if with_bos else (), ids)])
    with torch.no_grad():
        return loaded.model(input_ids=inputs, output_hidden_states=True, output_attentions=True)


def test_the_prefix_is_the_bos_the_tokenizer_prepends_and_nothing_appended(bos_model):
    assert bos_model.prefix_ids == (bos_model.tokenizer.bos_token_id,)
    # a tokenizer that appends an EOS as well: only what comes before the text is the prefix
    tok = make_bos_tokenizer()
    from tokenizers import processors

    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 1)])
    assert prefix_ids(tok) == (0,)
    assert prefix_ids(tok, is_encoder=True) == ()


def test_no_bos_models_read_exactly_their_text(tiny_model_dir):
    tiny = load(str(tiny_model_dir))
    assert tiny.prefix_ids == ()
    assert tokenize(tiny, TEXTS[:1])[0] == tiny.tokenizer(TEXTS[0])["input_ids"]


def test_states_and_entropy_are_over_text_tokens_with_the_bos_in_the_input(bos_model, seen_inputs):
    results = hidden_states(bos_model, TEXTS, layers="all", batch_size=2, attentions=True)
    entropy = layer_entropy(bos_model, TEXTS, layers="all", batch_size=2, use_cache=False)
    assert_bos_first_and_only(seen_inputs, bos_model.tokenizer.bos_token_id, bos_model.tokenizer.pad_token_id)
    for t, (text, result) in enumerate(zip(TEXTS, results)):
        ids = text_encoding(bos_model.tokenizer, text)
        reference = direct(bos_model, ids)
        assert result["hidden"].shape[1] == len(ids) == entropy.n_tokens[t]
        for layer in range(3):
            np.testing.assert_allclose(result["hidden"][layer], reference.hidden_states[layer][0, 1:], atol=1e-5)
            expected = matrix_entropy(reference.hidden_states[layer][:, 1:]).entropy[0]
            assert entropy.entropy[t, layer] == pytest.approx(expected, rel=1e-4)
        np.testing.assert_allclose(result["attentions"][-1], reference.attentions[-1][0, :, 1:, 1:], atol=1e-5)
        np.testing.assert_allclose(result["prefix_attention"][-1], reference.attentions[-1][0, :, 1:, 0], atol=1e-5)
        # the model really did read the BOS: its states differ from a run without it
        without = direct(bos_model, ids, with_bos=False).hidden_states[-1][0]
        assert not np.allclose(result["hidden"][-1], without, atol=1e-3)


def test_ridge_gains_use_text_states_only(bos_model, seen_inputs):
    ids = text_encoding(bos_model.tokenizer, TEXTS[1])
    states = hidden_states_for_ids(bos_model, [ids], layers="last")[0]["hidden"][0]
    gains = ridge_gains(prepare_states(states), 0.1)
    reference = ridge_gains(prepare_states(direct(bos_model, ids).hidden_states[-1][0, 1:].numpy()), 0.1)
    assert len(gains) == len(ids) - 1  # text token 0 dropped, as chapter 4 does for every model
    np.testing.assert_allclose(gains, reference, rtol=1e-4, atol=1e-6)
    assert_bos_first_and_only(seen_inputs, bos_model.tokenizer.bos_token_id, bos_model.tokenizer.pad_token_id)


def test_scores_rank_text_tokens_and_the_sink_is_the_bos(bos_model, seen_inputs):
    ids = [text_encoding(bos_model.tokenizer, text) for text in TEXTS]
    scores = score_context_tokens(bos_model, ids, blocks=[1, 2], use_cache=False)
    assert list(scores.n_candidates) == [len(i) - 2 for i in ids]
    for t, text_ids in enumerate(ids):
        attention = direct(bos_model, text_ids).attentions[1][0].numpy()  # block 2
        m = len(text_ids) - 2
        np.testing.assert_allclose(scores.attention[t, 1, :-1, :m], attention[:, -1, 2:-1], atol=1e-5)
        assert scores.sink_mass[t, 1] == pytest.approx(attention[:, -1, 0].mean(), abs=1e-5)
    assert_bos_first_and_only(seen_inputs, bos_model.tokenizer.bos_token_id, bos_model.tokenizer.pad_token_id)


def test_masked_runs_keep_the_bos_and_mask_text_positions(bos_model, seen_inputs):
    ids = [text_encoding(bos_model.tokenizer, text) for text in TEXTS[:2]]
    targets = [5, 7]
    keep = [single_erasure_masks(len(i)) for i in ids]
    runs = masked_runs(bos_model, ids, targets, keep, layer=-1, use_cache=False)
    for text_ids, target, k, logprob, gain in zip(ids, targets, keep, runs.logprob, runs.last_gain):
        assert len(logprob) == len(text_ids) - 1
        for row in (0, 3):
            inputs, mask = model_input(bos_model.prefix_ids, text_ids, k[row])
            with torch.no_grad():
                out = bos_model.model(input_ids=torch.tensor([inputs]), attention_mask=torch.from_numpy(mask[None]).long(),
                                      output_hidden_states=True)
            expected = torch.log_softmax(out.logits[0, -1], dim=-1)[target]
            assert logprob[row] == pytest.approx(float(expected), abs=1e-4)
            states = out.hidden_states[-1][0, 1:].numpy()[k[row]]
            assert gain[row] == pytest.approx(float(ridge_gains(prepare_states(states), 0.1)[-1]), rel=1e-4)
    assert_bos_first_and_only(seen_inputs, bos_model.tokenizer.bos_token_id, bos_model.tokenizer.pad_token_id)


def plain_loss(loaded, ids_with_defaults, skip):
    """``model(ids, labels=ids)`` with the tokenizer's defaults, scoring text tokens 2..n (``skip`` = BOS count)."""
    ids = torch.tensor([ids_with_defaults])
    labels = ids.clone()
    labels[0, : skip + 1] = -100  # the first text token is not scored (nothing of the text precedes it)
    with torch.no_grad():
        return float(loaded.model(input_ids=ids, labels=labels).loss), int((labels[0, 1:] != -100).sum())


def check_loss_matches_plain_transformers(loaded, texts):
    ids = [text_encoding(loaded.tokenizer, t) for t in texts]
    plain = [plain_loss(loaded, loaded.tokenizer(t)["input_ids"], len(loaded.prefix_ids)) for t in texts]
    expected = sum(loss * n for loss, n in plain) / sum(n for _, n in plain)
    assert next_token_loss(loaded, ids) == pytest.approx(expected, rel=1e-5)


def test_loss_equals_plain_transformers_for_a_bos_model(bos_model):
    check_loss_matches_plain_transformers(bos_model, TEXTS)
    ids = [text_encoding(bos_model.tokenizer, t) for t in TEXTS]
    assert next_token_loss(bos_model, ids, with_prefix=False) != pytest.approx(next_token_loss(bos_model, ids))


@pytest.mark.parametrize("name", ["smollm2-135m", "ladder-w128-l3"])
def test_loss_equals_plain_transformers_for_smollm2_and_the_ladder(name):
    loaded = load(name)
    assert loaded.prefix_ids == ()
    passages = sample_passages("austen", loaded.tokenizer, 3, 64, seed=0)
    check_loss_matches_plain_transformers(loaded, [p.text for p in passages])


def test_loss_command_prints_one_line_per_convention(tiny_long_model_dir):
    run = subprocess.run([sys.executable, "-m", "llmgeom", "loss", "--model", str(tiny_long_model_dir),
                          "--corpus", "shakespeare", "--n-texts", "2", "--max-tokens", "32"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1 and "nats/token" in lines[0] and "nothing before the text" in lines[0]
    float(lines[0].split(": ")[1].split()[0])
    bad = subprocess.run([sys.executable, "-m", "llmgeom", "loss", "--model", "minilm-l6", "--corpus", "austen"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "encoder" in bad.stderr


def test_an_encoder_reads_cls_and_sep_even_when_truncated():
    minilm = load("minilm-l6")
    assert minilm.prefix_ids == ()
    with pytest.warns(UserWarning, match="truncated"):
        ids = tokenize(minilm, ["Call me Ishmael. Some years ago, never mind how long precisely."], max_tokens=4)[0]
    assert ids[0] == minilm.tokenizer.cls_token_id and ids[-1] == minilm.tokenizer.sep_token_id
    assert len(ids) == 4 + 2  # four text tokens inside the pair
    states = hidden_states(minilm, ["Call me Ishmael."], layers="last")[0]["hidden"]
    assert states.shape[1] == len(tokenize(minilm, ["Call me Ishmael."])[0])


def test_gemma_fed_with_its_bos_has_a_plausible_loss_and_a_much_worse_one_without():
    """The acceptance check of the feeding convention, run as a reader would (on 4 passages; the README's 16
    give the same verdict)."""
    run = subprocess.run([sys.executable, "-m", "llmgeom", "loss", "--model", "gemma-3-270m", "--corpus", "austen",
                          "--n-texts", "4"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    fed, unfed = (float(line.split(": ")[1].split()[0]) for line in run.stdout.strip().splitlines())
    assert fed < 4.2 and unfed > fed + 1.0, run.stdout
