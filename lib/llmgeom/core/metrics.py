"""How well does a selector's ranking find the meaningful tokens? The metrics of chapter 5 (claim C4).

Each function compares one text's scores (higher = more important, one per context token) with one ground truth
(:mod:`llmgeom.experiments.tokenselect`); chapter 5 averages them over texts with bootstrap intervals.
"""

from __future__ import annotations

import numpy as np
from scipy.special import comb
from scipy.stats import rankdata


def _tie_split(scores, relevant, k: int):
    """For the ``k`` top scores of each row: ``(relevant strictly above the k-th score, slots left for the tokens
    tied at it, tokens tied at it, relevant among them)``, each ``[...]``. Under random tie-breaking the top ``k``
    hold every token above the k-th score and a uniformly drawn ``slots`` of the tied ones."""
    scores = np.asarray(scores, dtype=float)
    threshold = -np.sort(-scores, axis=-1)[..., k - 1 : k]
    above, tied = scores > threshold, scores == threshold
    return ((above & relevant).sum(-1), k - above.sum(-1), tied.sum(-1), (tied & relevant).sum(-1))


def _scalar_or_rows(values: np.ndarray, scores):
    """A float for one text's scores ``[m]``, an array ``[options]`` for scores ``[options, m]``."""
    return float(values) if np.ndim(scores) == 1 else values


def precision_at_k(scores, relevant, k: int):
    """Share of the ``k`` top-scored tokens that are relevant, ties credited fractionally: the expected share when
    tied scores are ordered at random (a constant score gets the chance value, whatever the positions).

    ``scores`` is ``[m]`` (one float) or ``[options, m]`` (one value per option: chapter 5's tables, computed at
    once); so are the other metrics here."""
    relevant = np.asarray(relevant, dtype=bool)
    k = min(k, len(relevant))
    above, slots, tied, tied_relevant = _tie_split(scores, relevant, k)
    return _scalar_or_rows((above + slots * tied_relevant / tied) / k, scores)


def hit_at_k(scores, relevant, k: int):
    """Whether a relevant token is among the ``k`` top-scored (top-1 / top-3 hit rate per text), ties credited
    fractionally: the probability that it is when tied scores are ordered at random."""
    relevant = np.asarray(relevant, dtype=bool)
    above, slots, tied, tied_relevant = _tie_split(scores, relevant, min(k, len(relevant)))
    # P(no relevant token among `slots` drawn from `tied`) = C(tied − tied_relevant, slots) / C(tied, slots)
    missed = comb(tied - tied_relevant, slots) / comb(tied, slots)
    return _scalar_or_rows(np.where(above > 0, 1.0, 1.0 - missed), scores)


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


def position_prior(truths, folds=None) -> np.ndarray:
    """The position prior: each candidate scored by the mean ground truth at its distance from the query, estimated
    on the *other* fold of texts (chapter 5's trivial baseline that knows where answers tend to sit, not what they are).

    ``truths`` holds one array per text over its candidates (bool: the answer-bearing rate; float: the mean effect);
    candidate ``j`` of a text with ``m`` candidates is ``m − j`` tokens before the query. ``folds`` (default: the
    parity of the text's index, as :func:`cross_validated_best`) says which texts estimate whose prior; a distance the
    other fold never shows gets that fold's overall mean. Returns ``[texts, 1, M]``, NaN-padded to the longest text.
    """
    truths = [np.asarray(t, dtype=float) for t in truths]
    folds = np.arange(len(truths)) % 2 if folds is None else np.asarray(folds)
    width = max((len(t) for t in truths), default=0)
    out = np.full((len(truths), 1, width), np.nan)
    for fold in np.unique(folds):
        sums, counts = np.zeros(width + 1), np.zeros(width + 1)
        for t in np.flatnonzero(folds != fold):
            distance = len(truths[t]) - np.arange(len(truths[t]))
            np.add.at(sums, distance, truths[t])
            np.add.at(counts, distance, 1)
        overall = sums.sum() / counts.sum() if counts.sum() else 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(counts > 0, sums / counts, overall)
        for t in np.flatnonzero(folds == fold):
            out[t, 0, : len(truths[t])] = rate[len(truths[t]) - np.arange(len(truths[t]))]
    return out
