"""Chapter 4's measurement (claim C3): the information gain of every token of held-out passages, cached.

:func:`passage_gains` gives ``IG_t`` (:func:`llmgeom.core.ridge.ridge_gains`) of each passage's final states, after the
chapter's preprocessing (:func:`llmgeom.core.ridge.prepare_states`: text token 0, the sink, dropped; rows unit-norm).
Chapter 4 computes it from the states it already holds; the reproduction cards read the same cached gains.
"""

from __future__ import annotations

import numpy as np

from llmgeom.core.ridge import prepare_states, ridge_gains
from llmgeom.data.corpora import sample_passages
from llmgeom.measure.extract import hidden_states, tokenize
from llmgeom.store.cache import cached_arrays


def gain_passages(loaded, corpus: str, n_texts: int, n_tokens: int, seed: int = 0) -> list[str]:
    """The texts of chapter 4's passages: ``n_tokens + 1`` text tokens each (token 0, the sink, is dropped)."""
    return [p.text for p in sample_passages(corpus, loaded.tokenizer, n_texts, n_tokens + 1, seed=seed)]


def passage_gains(loaded, corpus: str, n_texts: int, n_tokens: int, noise_variance: float, seed: int = 0,
                  final_states=None, batch_size: int = 16, use_cache: bool = True) -> np.ndarray:
    """``[texts, n_tokens]``: ``IG_t`` along each of :func:`gain_passages`'s passages, from the final hidden state.

    ``final_states`` (per passage ``[n_tokens + 1, d]``, the final layer) saves the forward pass where a caller
    already ran it (chapter 4 runs every layer at once). Cached under the model's content, the passages, the noise
    variance and the library.
    """
    texts = gain_passages(loaded, corpus, n_texts, n_tokens, seed)

    def compute():
        states = final_states if final_states is not None else [
            r["hidden"][-1] for r in hidden_states(loaded, texts, layers="last", batch_size=batch_size, progress=False)]
        return {"gains": np.array([ridge_gains(prepare_states(s), noise_variance) for s in states])}

    return cached_arrays("passage_gains", compute, use_cache, model=loaded.fingerprint,
                         ids=tokenize(loaded, texts), noise_variance=float(noise_variance))["gains"]


IDENTITY_TOLERANCE = 1e-8
"""The largest relative difference between the two computations of a gain that still counts as equal (float64)."""


def identity_verdict(max_relative_error: float) -> str:
    """Claim C3's word (stated in the book's protocol). The ridge identity is a theorem, so its check can fail only
    through a bug: *verified (identity)* when the Cholesky and scikit-learn computations agree within
    :data:`IDENTITY_TOLERANCE`, a word of its own beside the empirical claims' *reproduced*; *not verified* otherwise."""
    if not max_relative_error <= IDENTITY_TOLERANCE:  # NaN fails too
        return "not verified: the two computations disagree"
    return "verified (identity)"
