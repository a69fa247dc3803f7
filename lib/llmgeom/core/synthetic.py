"""Synthetic token matrices whose matrix entropy is known exactly (chapter 1).

The construction: put ``m_k`` tokens at ``+u_k`` and ``m_k`` at ``−u_k`` for orthonormal directions ``u_k``.
The tokens already have mean zero and unit norm, so centring and normalisation leave them alone and
``Σ = Zᵀ Z / N = Σ_k (2 m_k / N) u_k u_kᵀ``: the spectrum is exactly ``2 m_k / N``. A random rotation hides the
axes, and a common offset (which centring removes) keeps the raw states from being centred already.
"""

from __future__ import annotations

import numpy as np

from llmgeom.core.gaussian import power_law_spectrum


def power_law_weights(rank: int, alpha: float) -> np.ndarray:
    """Weights ``k^(−α) / Σ_j j^(−α)`` for ``k = 1..rank``: a power-law spectrum summing to 1."""
    if rank < 1:
        raise ValueError(f"rank must be at least 1; got {rank}")
    w = power_law_spectrum(rank, alpha)
    return w / w.sum()


def states_with_spectrum(weights, n_tokens: int, width: int, seed: int = 0, shift: float = 3.0):
    """Token states ``R [N, d]`` whose centred, normalised covariance has a known spectrum.

    Parameters
    ----------
    weights : array ``[r]``
        Desired spectrum (non-negative; normalised to sum 1). It is rounded to multiples of ``2 / N``.
    n_tokens : int
        ``N``, even; at least 2.
    width : int
        ``d ≥ r``.
    seed : int
        Seed of the rotation and token order.
    shift : float
        Size of a common offset added to every token (centring removes it).

    Returns
    -------
    states : ndarray ``[N, d]``
    spectrum : ndarray ``[r]``
        The exact spectrum of ``Σ`` (``2 m_k / N``, descending; zeros for rounded-away directions dropped).
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be a 1-d array of non-negative numbers with a positive sum")
    if n_tokens < 2 or n_tokens % 2:
        raise ValueError(f"n_tokens must be even and at least 2; got {n_tokens}")
    if len(w) > width:
        raise ValueError(f"a spectrum of {len(w)} directions needs width ≥ {len(w)}; got {width}")
    pairs = n_tokens // 2
    w = w / w.sum()
    counts = np.floor(w * pairs).astype(int)
    # largest remainders get the pairs that rounding left over, so the counts sum to N / 2 exactly
    leftover = pairs - counts.sum()
    counts[np.argsort(-(w * pairs - counts), kind="stable")[:leftover]] += 1
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((width, width)))
    directions = np.repeat(np.arange(len(w)), counts)
    signs = np.concatenate([np.ones(pairs), -np.ones(pairs)])
    z = signs[:, None] * q[:, np.concatenate([directions, directions])].T
    z = z[rng.permutation(n_tokens)]
    states = z + shift * q[:, -1]
    spectrum = np.sort(2 * counts[counts > 0] / n_tokens)[::-1]
    return states, spectrum
