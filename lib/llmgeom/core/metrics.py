"""How well does a selector's ranking find the meaningful tokens? The metrics of chapter 5 (claim C4).

Each function compares one text's scores (higher = more important, one per context token) with one ground truth
(:mod:`llmgeom.experiments.tokenselect`); chapter 5 averages them over texts with bootstrap intervals.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _top(scores, k):
    """Indices of the ``k`` top scores along the last axis; ties broken by position, latest first, so a constant
    score does not favour the start of the text."""
    scores = np.asarray(scores, dtype=float)
    position = np.broadcast_to(-np.arange(scores.shape[-1]), scores.shape)
    return np.lexsort((position, -scores), axis=-1)[..., :k]


def _scalar_or_rows(values: np.ndarray, scores):
    """A float for one text's scores ``[m]``, an array ``[options]`` for scores ``[options, m]``."""
    return float(values) if np.ndim(scores) == 1 else values


def precision_at_k(scores, relevant, k: int):
    """Share of the ``k`` top-scored tokens that are relevant.

    ``scores`` is ``[m]`` (one float) or ``[options, m]`` (one value per option: chapter 5's tables, computed at
    once); so are the other metrics here."""
    relevant = np.asarray(relevant, dtype=bool)
    k = min(k, len(relevant))
    return _scalar_or_rows(relevant[_top(scores, k)].mean(axis=-1), scores)


def hit_at_k(scores, relevant, k: int):
    """1.0 if any relevant token is among the ``k`` top-scored, else 0.0 (top-1 / top-3 hit rate per text)."""
    relevant = np.asarray(relevant, dtype=bool)
    return _scalar_or_rows(relevant[_top(scores, min(k, len(relevant)))].any(axis=-1).astype(float), scores)


def auroc(scores, labels):
    """Area under the ROC curve of ``scores`` for the binary ``labels`` (ties count ½); NaN if one class is empty."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    scores = np.asarray(scores, dtype=float)
    if n_pos == 0 or n_neg == 0:
        return _scalar_or_rows(np.full(scores.shape[:-1], np.nan), scores)
    ranks = rankdata(scores, axis=-1)
    return _scalar_or_rows((ranks[..., labels].sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), scores)


def spearman(scores, truth):
    """Spearman rank correlation of ``scores`` with a graded ground truth; NaN if either is constant."""
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    # Pearson correlation of average ranks: scipy's spearmanr, without its overhead (called ~10⁵ times per chapter)
    a, b = rankdata(scores, axis=-1), rankdata(truth)
    a, b = a - a.mean(axis=-1, keepdims=True), b - b.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (a @ b) / np.sqrt((a * a).sum(axis=-1) * (b @ b))
    constant = (np.ptp(scores, axis=-1) == 0) | (np.ptp(truth) == 0)
    return _scalar_or_rows(np.where(constant, np.nan, value), scores)


def cross_validated_best(table) -> np.ndarray:
    """Per-text values at the column (block, or block × head) chosen on the *other* half of the texts.

    ``table`` is ``[texts, options]``; texts are split into two folds by parity. For each fold, the option with the
    highest mean on the other fold is used, so no text's value comes from an option chosen on that text — the
    honest way to report "the best block" without an oracle. Returns ``[texts]``.
    """
    table = np.asarray(table, dtype=float)
    fold = np.arange(len(table)) % 2
    out = np.full(len(table), np.nan)
    for f in (0, 1):
        other = table[fold != f]
        if not len(other) or not np.isfinite(other).any():
            continue
        with np.errstate(all="ignore"):
            means = np.nanmean(np.where(np.isfinite(other), other, np.nan), axis=0)
        out[fold == f] = table[fold == f, int(np.nanargmax(means))]
    return out
