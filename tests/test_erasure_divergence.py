"""Erasure on the whole next-token distribution: KL and the greedy token's drop, against direct runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmgeom.data.feeding import model_input, text_encoding
from llmgeom.measure.erasure import erasure_divergence, masked_runs, single_erasure_masks


def test_kl_and_greedy_drop_equal_direct_runs_with_the_bos_kept(bos_model):
    texts = ["Call me Ishmael. Some years ago", "To be, or not to be, that is the question."]
    ids = [text_encoding(bos_model.tokenizer, t) for t in texts]
    keep = [single_erasure_masks(len(i)) for i in ids]
    result = erasure_divergence(bos_model, ids, keep, batch_size=4, use_cache=False)
    for text_ids, k, kl, drop in zip(ids, keep, result.kl, result.greedy_drop):
        assert kl.shape == drop.shape == (len(k) - 1,)
        assert (kl >= -1e-9).all()

        def log_p(row):
            inputs, mask = model_input(bos_model.prefix_ids, text_ids, row)
            with torch.no_grad():
                out = bos_model.model(input_ids=torch.tensor([inputs]), attention_mask=torch.from_numpy(mask[None]).long())
            return torch.log_softmax(out.logits[0, -1].double(), dim=-1)

        full = log_p(k[0])
        for row in (1, len(k) - 1):
            masked = log_p(k[row])
            assert kl[row - 1] == pytest.approx(float((full.exp() * (full - masked)).sum()), rel=1e-4, abs=1e-7)
            top = int(full.argmax())
            assert drop[row - 1] == pytest.approx(float(full[top] - masked[top]), rel=1e-4, abs=1e-7)
    # the greedy drop is what masked_runs measures with the full context's top token as the target
    tops = [int(masked_runs(bos_model, [i], [0], [np.ones((1, len(i)), bool)], layer=None, use_cache=False).top_id[0][0])
            for i in ids]
    runs = masked_runs(bos_model, ids, tops, keep, layer=None, use_cache=False)
    for lp, drop in zip(runs.logprob, result.greedy_drop):
        np.testing.assert_allclose(lp[0] - lp[1:], drop, rtol=1e-4, atol=1e-5)


def test_a_reference_row_that_masks_something_is_refused(bos_model):
    ids = text_encoding(bos_model.tokenizer, "Call me Ishmael.")
    keep = single_erasure_masks(len(ids))[1:]
    with pytest.raises(ValueError, match="row 0 keeps every token"):
        erasure_divergence(bos_model, [ids], [keep])
