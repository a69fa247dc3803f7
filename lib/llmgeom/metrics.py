"""How well does a selector's ranking find the meaningful tokens? The metrics of chapter 5 (claim C4).

Each function compares one text's scores (higher = more important, one per context token) with one ground truth
(:mod:`llmgeom.tokenselect`); chapter 5 averages them over texts with bootstrap intervals.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


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
    # Pearson correlation of average ranks: scipy's spearmanr, without its overhead (called ~10⁵ times per chapter)
    a, b = rankdata(scores), rankdata(truth)
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


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
