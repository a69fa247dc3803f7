"""Paired tests and multiple-comparison corrections for the verdicts (chapter 5, claim C4).

* :func:`sign_flip_p_value` — the two-sided p-value of a zero mean for paired differences, by random sign flips
  (a permutation test: under the null each difference is as likely to be positive as negative);
* :func:`holm` — Holm's step-down adjustment of a family of p-values, which controls the family-wise error rate
  without assuming the tests are independent;
* :func:`side_word` — which side of a threshold an interval lies on, in the words a verdict or a sentence uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sign_flip_p_value(differences, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value that the mean of paired ``differences`` is zero, by random sign flips.

    Each resample multiplies every difference by an independent ±1 and recomputes the mean; the p-value is
    ``(1 + #{|resampled mean| ≥ |observed mean|}) / (1 + n_resamples)``, which is never 0 and is exact in
    expectation under the null of a symmetric distribution around zero. NaN differences are dropped.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        raise ValueError("no finite differences to test")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1; got {n_resamples}")
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    exceed = 0
    for start in range(0, n_resamples, 2048):  # in blocks, so memory stays small for long inputs
        size = min(2048, n_resamples - start)
        signs = rng.integers(0, 2, (size, len(d)), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ d) / len(d)
        exceed += int((means >= observed - 1e-12 * max(1.0, observed)).sum())
    return (1 + exceed) / (1 + n_resamples)


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values, in the input order: reject where ``adjusted < α`` controls the family-wise error.

    The ``i``-th smallest p-value (1-based) of ``m`` is multiplied by ``m − i + 1``; adjusted values are made
    non-decreasing in that order and capped at 1. NaN entries (untestable cells) stay NaN and do not count in ``m``.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional; got shape {p.shape}")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(len(p), np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out


def side_word(low: float, high: float, above: str, below: str, neither: str, threshold: float = 0.0) -> str:
    """``above`` if the interval ``[low, high]`` lies above ``threshold``, ``below`` if below it, ``neither`` if it
    contains it: every computed direction in the book's prose (chapter 2's "H rises with size") and every
    three-way verdict word (chapter 6's *reproduced* / *not reproduced* / *inconclusive* against one half)."""
    return above if low > threshold else below if high < threshold else neither


def common_word(words: Sequence[str]) -> str:
    """The decoders' common verdict word, or *model-dependent* when they differ (every chapter with two decoders)."""
    words = list(words)
    if not words:
        raise ValueError("no verdict words to combine")
    return words[0] if len(set(words)) == 1 else "model-dependent"
