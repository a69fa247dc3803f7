"""Which context tokens matter? Attention scores, content words and the cached scoring of chapter 5 (claim C4).

A *selector* gives every context token of a text a score (higher = more important); Lasso's scores are
:func:`llmgeom.core.lasso.lasso_entry_scores`, attention's are :func:`attention_scores`. A *ground truth* says
which tokens are meaningful: erasure effects (:mod:`llmgeom.measure.erasure`), the answer-bearing tokens of planted
tasks (:mod:`llmgeom.data.planted`) or content words (:func:`content_word_mask`). The metrics
(:mod:`llmgeom.core.metrics`) compare one text's scores with one ground truth; chapter 5 averages them over texts with
bootstrap intervals.

Text token 0 is never a candidate: without a BOS it is the attention sink of every model here and a massive
activation in SmolLM2, so it would win every ranking for reasons unrelated to meaning; a model with a BOS reads it
but it is in no ranking either (:mod:`llmgeom.data.feeding`). :func:`sink_share` reports the sink separately: the BOS
where the model has one, else text token 0.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from llmgeom.core.lasso import lasso_entry_scores
from llmgeom.experiments.selectors import HEAD_MEAN, LASSO_STATE, LASSO_UPDATE, RANDOM, RECENCY, head_of
from llmgeom.measure.extract import hidden_states_for_ids
from llmgeom.store.cache import cached_arrays


def attention_scores(attentions, last: int | None = None, candidates=None) -> np.ndarray:
    """The attention the last token pays to each candidate token, per head and averaged over heads.

    Parameters
    ----------
    attentions : array ``[heads, n, n]`` (one block's weights for one text; rows are queries)
    last : query position (default the last, ``n − 1``)
    candidates : indices of the context tokens to score (default ``1 .. last − 1``: no sink, not itself)

    Returns
    -------
    ndarray ``[heads + 1, len(candidates)]``: rows ``0..heads−1`` per head, the last row the head mean.
    """
    a = np.asarray(attentions, dtype=np.float64)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"attentions must be [heads, n, n]; got shape {a.shape}")
    last = a.shape[1] - 1 if last is None else last
    candidates = np.arange(1, last) if candidates is None else np.asarray(candidates)
    row = a[:, last, candidates]
    return np.vstack([row, row.mean(axis=0, keepdims=True)])


def sink_share(attentions, last: int | None = None, prefix_attention=None) -> tuple[float, float]:
    """``(mean attention mass on the sink, share of heads whose largest weight is on it)`` for one query.

    The sink is the first position the model reads: its BOS when ``prefix_attention`` (``[heads, n]``, the
    weight each query puts on the BOS) is given, else text token 0.
    """
    a = np.asarray(attentions, dtype=np.float64)
    last = a.shape[1] - 1 if last is None else last
    row = a[:, last, : last + 1]
    if prefix_attention is None:
        return float(row[:, 0].mean()), float((row.argmax(axis=1) == 0).mean())
    sink = np.asarray(prefix_attention, dtype=np.float64)[:, last]
    return float(sink.mean()), float((sink > row.max(axis=1)).mean())


def content_word_mask(text: str, offsets) -> np.ndarray:
    """Which tokens belong to a content word: an alphabetic word not in scikit-learn's English stop-word list.

    Parameters
    ----------
    text : the text the tokenizer read
    offsets : ``[(start, end)]`` character span per token (a fast tokenizer's ``offset_mapping``)

    Returns
    -------
    bool ndarray ``[len(offsets)]``; a sub-word token counts if its word is a content word.
    """
    owner = np.full(len(text) + 1, -1)
    words = []
    for number, match in enumerate(re.finditer(r"[A-Za-z]+", text)):
        owner[match.start() : match.end()] = number
        words.append(match.group().lower() not in ENGLISH_STOP_WORDS and len(match.group()) > 1)
    mask = np.zeros(len(offsets), dtype=bool)
    for i, (start, end) in enumerate(offsets):
        inside = owner[start:end]
        inside = inside[inside >= 0]
        mask[i] = bool(len(inside)) and words[inside[0]]
    return mask


@dataclass
class ContextScores:
    """Every selector's scores for every text and block. Texts of different lengths are NaN-padded.

    ``lasso_state``, ``lasso_update``: ``[texts, blocks, M]``; ``attention``: ``[texts, blocks, heads + 1, M]``
    (the last row is the head mean); ``sink_mass``, ``sink_rate``: ``[texts, blocks]``; ``n_candidates``:
    ``[texts]``. Candidate ``j`` is token ``j + 1`` (token 0 and the last token are never candidates).
    """

    blocks: tuple[int, ...]
    lasso_state: np.ndarray
    lasso_update: np.ndarray
    attention: np.ndarray
    sink_mass: np.ndarray
    sink_rate: np.ndarray
    n_candidates: np.ndarray

    def text(self, name: str, text: int, block: int) -> np.ndarray:
        """One text's scores at one block (index into ``blocks``) for ``name`` in ``SELECTORS``."""
        m = int(self.n_candidates[text])
        if name == LASSO_STATE:
            return self.lasso_state[text, block, :m]
        if name == LASSO_UPDATE:
            return self.lasso_update[text, block, :m]
        if name == HEAD_MEAN:
            return self.attention[text, block, -1, :m]
        if name == RECENCY:
            return np.arange(m, dtype=float)
        if name == RANDOM:
            return np.random.default_rng([text, block]).random(m)
        if (head := head_of(name)) is not None:
            return self.attention[text, block, head, :m]
        raise ValueError(f"unknown selector {name!r}; choose one of {', '.join(SELECTORS)}")


SELECTORS = (LASSO_STATE, LASSO_UPDATE, HEAD_MEAN, RECENCY, RANDOM)
"""Selector names for :meth:`ContextScores.text`; single heads are :func:`~llmgeom.experiments.selectors.single_head`
labels. ``random`` is a fixed uniform draw per text and block (the chance level); ``recency`` ranks the latest tokens
first."""


def per_text_metric(scores: ContextScores, selector: str, truths, metric) -> np.ndarray:
    """``metric(selector's scores, truth)`` for every text and block: ``[texts, blocks]`` (NaN where undefined).

    ``truths`` holds one array per text over its candidates (erasure effects, answer-bearing or content masks).
    """
    out = np.full((len(truths), len(scores.blocks)), np.nan)
    for t, truth in enumerate(truths):
        for b in range(len(scores.blocks)):
            out[t, b] = metric(scores.text(selector, t, b), truth)
    return out


def score_context_tokens(
    loaded, token_ids: Sequence[Sequence[int]], blocks: Sequence[int], batch_size: int = 16, use_cache: bool = True,
    states: list[dict] | None = None,
) -> ContextScores:
    """Lasso (two targets) and attention scores of every context token, for the last token of each text.

    At block ``b`` (1-based; the block whose output is hidden state ``b``) all selectors look at what the block
    reads, the layer ``b − 1`` states of the context:

    * ``lasso (state)`` regresses the last token's layer-``b − 1`` state on them;
    * ``lasso (update)`` regresses what block ``b`` writes into the last position, ``h_b − h_{b−1}``;
    * ``attention`` is block ``b``'s attention from the last token (per head and head mean).

    Every Lasso uses :func:`llmgeom.core.lasso.lasso_entry_scores` (unit rows, centred over the context).
    Results are cached under the model's content, the token ids, the blocks and the library. ``states``, the
    result of ``hidden_states_for_ids(loaded, token_ids, range(max(blocks) + 1), attentions=True)`` where a caller
    already ran that pass (chapter 5's :func:`llmgeom.experiments.tokenselect.selector_tables`), saves running it again.
    """
    blocks = tuple(int(b) for b in blocks)
    if not blocks or min(blocks) < 1 or max(blocks) > loaded.n_layers:
        raise ValueError(f"blocks must be in 1..{loaded.n_layers} for {loaded.name}; got {list(blocks)}")
    if min(len(ids) for ids in token_ids) < 3:
        raise ValueError("every text needs at least 3 tokens (the sink, one context token and the last token)")

    def compute():
        layers = list(range(max(blocks) + 1)) if states is not None else sorted({b - 1 for b in blocks} | set(blocks))
        width = max(len(ids) for ids in token_ids) - 2
        heads = loaded.model.config.num_attention_heads
        shape = (len(token_ids), len(blocks))
        out = {
            "lasso_state": np.full((*shape, width), np.nan),
            "lasso_update": np.full((*shape, width), np.nan),
            "attention": np.full((*shape, heads + 1, width), np.nan),
            "sink_mass": np.zeros(shape),
            "sink_rate": np.zeros(shape),
            "n_candidates": np.array([len(ids) - 2 for ids in token_ids]),
        }
        results = states if states is not None else hidden_states_for_ids(loaded, token_ids, layers, batch_size,
                                                                          attentions=True)
        for t, result in enumerate(results):
            hidden, attn = result["hidden"], result["attentions"]
            m = len(token_ids[t]) - 2
            for j, b in enumerate(blocks):
                before, after = hidden[layers.index(b - 1)], hidden[layers.index(b)]
                context = before[1:-1]
                out["lasso_state"][t, j, :m] = lasso_entry_scores(context, before[-1])
                out["lasso_update"][t, j, :m] = lasso_entry_scores(context, after[-1] - before[-1], centre=False)
                block_index = [layer for layer in layers if layer > 0].index(b)
                weights = attn[block_index]
                out["attention"][t, j, :, :m] = attention_scores(weights)
                bos = result.get("prefix_attention")
                out["sink_mass"][t, j], out["sink_rate"][t, j] = sink_share(
                    weights, prefix_attention=None if bos is None else bos[block_index])
        return out

    ids = hashlib.sha256(json.dumps([list(map(int, i)) for i in token_ids]).encode()).hexdigest()
    return ContextScores(blocks, **cached_arrays("context_scores", compute, use_cache, model=loaded.fingerprint,
                                                 blocks=blocks, ids=ids))

