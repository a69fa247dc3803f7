"""Which context tokens matter? Attention scores, content words and the metrics of chapter 5 (claim C4).

A *selector* gives every context token of a text a score (higher = more important); Lasso's scores are
:func:`llmgeom.regression.lasso_entry_scores`, attention's are :func:`attention_scores`. A *ground truth* says
which tokens are meaningful: erasure effects (:mod:`llmgeom.erasure`), the answer-bearing tokens of planted tasks
(:mod:`llmgeom.planted`) or content words (:func:`content_word_mask`). The metrics below compare one text's scores
with one ground truth; chapter 5 averages them over texts with bootstrap intervals.

Token 0 is never a candidate: it is the attention sink of every model here and a massive activation in SmolLM2,
so it would win every ranking for reasons unrelated to meaning. :func:`sink_share` reports it separately.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.stats import rankdata, spearmanr


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


def sink_share(attentions, last: int | None = None) -> tuple[float, float]:
    """``(mean attention mass on token 0, share of heads whose largest weight is on token 0)`` for one query."""
    a = np.asarray(attentions, dtype=np.float64)
    last = a.shape[1] - 1 if last is None else last
    row = a[:, last, : last + 1]
    return float(row[:, 0].mean()), float((row.argmax(axis=1) == 0).mean())


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
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

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


def _top(scores, k):
    # ties broken by position, latest first, so a constant score does not favour the start of the text
    order = np.lexsort((-np.arange(len(scores)), -np.asarray(scores, dtype=float)))
    return order[:k]


def precision_at_k(scores, relevant, k: int) -> float:
    """Share of the ``k`` top-scored tokens that are relevant."""
    relevant = np.asarray(relevant, dtype=bool)
    k = min(k, len(relevant))
    return float(relevant[_top(scores, k)].mean())


def hit_at_k(scores, relevant, k: int) -> float:
    """1.0 if any relevant token is among the ``k`` top-scored, else 0.0 (top-1 / top-3 hit rate per text)."""
    relevant = np.asarray(relevant, dtype=bool)
    return float(relevant[_top(scores, min(k, len(relevant)))].any())


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``labels`` (ties count ½); NaN if one class is empty."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(scores, truth) -> float:
    """Spearman rank correlation of ``scores`` with a graded ground truth; NaN if either is constant."""
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    if np.ptp(scores) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(spearmanr(scores, truth).statistic)
