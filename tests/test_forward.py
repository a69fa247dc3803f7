"""The one forward pass (llmgeom.forward.run_model), the model fingerprint and the one cached-result helper."""

import numpy as np
import pytest
import torch

from llmgeom.cache import cached_arrays
from llmgeom.forward import run_model
from llmgeom.models import load


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
