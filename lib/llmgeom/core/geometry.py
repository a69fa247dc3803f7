"""Distances between sentences from their token states (chapter 7, claim C6).

A sentence with token states ``R`` (``n × d``) is summarised by its mean embedding and by its token covariance
``Σ = Zᵀ Z / n`` (centred, unit rows, trace 1 — the matrix of chapter 1). Distances between two sentences with
``A = Z_a / √n_a`` and ``B = Z_b / √n_b`` (so ``Σ_a = AᵀA``, ``Σ_b = BᵀB``) never form a ``d × d`` matrix:

* Frobenius: ``‖Σ_a − Σ_b‖²_F = ‖AAᵀ‖²_F + ‖BBᵀ‖²_F − 2 ‖ABᵀ‖²_F``;
* Bures–Wasserstein: ``d² = tr Σ_a + tr Σ_b − 2 ‖ABᵀ‖_*`` (nuclear norm of the small cross-Gram matrix), the
  2-Wasserstein distance between centred Gaussians with these covariances;
* quantum (von Neumann) relative entropy, symmetrised, of the smoothed density matrices
  ``(1 − ε) Σ + ε I / d``, computed in the joint span of both sentences' tokens, where it is exact (outside it
  both matrices equal ``ε I / d`` and contribute nothing).

Mean-embedding cosine distance ``1 − cos(μ_a, μ_b)`` uses the raw states (no centring).
"""

from __future__ import annotations

import numpy as np

from llmgeom.core.entropy import normalize_tokens


def covariance_factor(states) -> np.ndarray:
    """``A = Z / √n`` for one sentence's states ``[n, d]``: ``AᵀA`` is its trace-1 token covariance."""
    z = normalize_tokens(np.asarray(states, dtype=np.float64)).numpy()[0]
    return z / np.sqrt(len(z))


def cosine_distance(states_a, states_b) -> float:
    """``1 − cos`` between the mean token states."""
    a = np.asarray(states_a, dtype=np.float64).mean(axis=0)
    b = np.asarray(states_b, dtype=np.float64).mean(axis=0)
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def jaccard_distance(ids_a, ids_b) -> float:
    """``1 − |A ∩ B| / |A ∪ B|`` of the *sets* of token ids: the lexical baseline of chapter 7.

    It sees which tokens occur and nothing else — no order, no context — so a role swap (the same words) is at
    distance 0 and any separation of meaning it achieves is word overlap.
    """
    a, b = {int(i) for i in ids_a}, {int(i) for i in ids_b}
    if not a and not b:
        raise ValueError("both token sets are empty")
    return 1.0 - len(a & b) / len(a | b)


def frobenius_distance(a, b) -> float:
    """``‖AᵀA − BᵀB‖_F`` from Gram matrices only (``a``, ``b``: factors from :func:`covariance_factor`)."""
    value = np.linalg.norm(a @ a.T) ** 2 + np.linalg.norm(b @ b.T) ** 2 - 2 * np.linalg.norm(a @ b.T) ** 2
    return float(np.sqrt(max(value, 0.0)))


def bures_distance(a, b) -> float:
    """Bures–Wasserstein distance between ``AᵀA`` and ``BᵀB`` via the nuclear norm of ``ABᵀ``."""
    fidelity = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    value = (a * a).sum() + (b * b).sum() - 2 * fidelity
    return float(np.sqrt(max(value, 0.0)))


def relative_entropy_distance(a, b, eps: float = 1e-3) -> float:
    """Symmetrised von Neumann relative entropy ``½[D(ρ‖σ) + D(σ‖ρ)]`` of smoothed ``ρ = AᵀA``, ``σ = BᵀB``."""
    d = a.shape[1]
    q, _ = np.linalg.qr(np.vstack([a, b]).T)  # orthonormal basis of the joint span, [d, k]
    k = q.shape[1]
    smooth = lambda m: (1 - eps) * (q.T @ m.T) @ (m @ q) + (eps / d) * np.eye(k)
    rho, sigma = smooth(a), smooth(b)

    def logm(m):
        w, v = np.linalg.eigh(m)
        return (v * np.log(np.clip(w, 1e-300, None))) @ v.T

    log_rho, log_sigma = logm(rho), logm(sigma)
    forward = np.trace(rho @ (log_rho - log_sigma))
    backward = np.trace(sigma @ (log_sigma - log_rho))
    return float(0.5 * (forward + backward))


DISTANCES = {
    "cosine of means": None,  # works on raw states, see sentence_distances
    "Frobenius": frobenius_distance,
    "Bures–Wasserstein": bures_distance,
    "relative entropy": relative_entropy_distance,
}
"""The distances chapter 7 compares, by display name."""


def sentence_stats(states) -> tuple[np.ndarray, np.ndarray]:
    """``(mean state, covariance factor)`` of one sentence's token states ``[n, d]``: all the distances need."""
    states = np.asarray(states, dtype=np.float64)
    return states.mean(axis=0), covariance_factor(states)


def distances_between(stats_a, stats_b) -> dict[str, float]:
    """Every distance of :data:`DISTANCES` between two sentences summarised by :func:`sentence_stats`."""
    (mean_a, a), (mean_b, b) = stats_a, stats_b
    out = {"cosine of means": float(1 - mean_a @ mean_b / (np.linalg.norm(mean_a) * np.linalg.norm(mean_b)))}
    for name, function in DISTANCES.items():
        if function is not None:
            out[name] = function(a, b)
    return out


def sentence_distances(states_a, states_b) -> dict[str, float]:
    """Every distance of :data:`DISTANCES` between two sentences' token states."""
    return distances_between(sentence_stats(states_a), sentence_stats(states_b))
