"""Gaussian and Gaussian-process entropy: the closed forms of chapter 3 (claim C2).

For ``x ~ N(0, K)`` in ``T`` dimensions (a GP observed at ``T`` inputs):

* differential entropy ``h(x) = ½ log det(2πe K)``;
* chain rule ``h(x) = Σ_t h(x_t | x_<t)``, where ``h(x_t | x_<t) = ½ log(2πe σ²_t)`` and ``σ²_t`` is the GP
  posterior variance of ``x_t`` given ``x_<t`` — the Schur complement ``K_tt − K_t,<t K_<t⁻¹ K_<t,t``, which is
  also the squared ``t``-th diagonal entry of the Cholesky factor of ``K``;
* information gain of noisy observations ``y = x + ε``, ``ε ~ N(0, σ² I)``: ``I(x; y) = ½ log det(I + K/σ²)``.

For a power-law spectrum ``λ_k ∝ k^(−α)`` (``α > 1``) the variance a model leaves when it resolves only the top
``m`` directions, ``R(m) = Σ_{k>m} λ_k``, lies between ``(m+1)^(1−α)/(α−1)`` and ``m^(1−α)/(α−1)`` (times the
scale): a power law in ``m`` with exponent ``α − 1``.
"""

from __future__ import annotations

import numpy as np

LOG_2PI_E = np.log(2 * np.pi * np.e)


def _check_square(k) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"K must be a square matrix; got shape {k.shape}")
    return k


def _cholesky(k: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        raise ValueError("K is not positive definite: add a noise term (jitter) to its diagonal") from None


def gaussian_entropy(k) -> float:
    """``½ log det(2πe K)`` in nats, through a Cholesky factor."""
    k = _check_square(k)
    diag = np.diag(_cholesky(k))
    return float(0.5 * len(k) * LOG_2PI_E + np.log(diag).sum())


def conditional_variances(k) -> np.ndarray:
    """``σ²_t = Var(x_t | x_1..x_{t−1})`` for every ``t`` at once: the squared Cholesky diagonal."""
    return np.diag(_cholesky(_check_square(k))) ** 2


def schur_conditional_variance(k, t: int) -> float:
    """``K_tt − K_t,<t K_<t⁻¹ K_<t,t`` for one ``t`` (0-based), by solving the linear system (reference form)."""
    k = _check_square(k)
    if t == 0:
        return float(k[0, 0])
    past = k[:t, :t]
    cross = k[:t, t]
    return float(k[t, t] - cross @ np.linalg.solve(past, cross))


def conditional_entropies(k) -> np.ndarray:
    """``h(x_t | x_<t) = ½ log(2πe σ²_t)`` for every ``t``; they sum to :func:`gaussian_entropy`."""
    return 0.5 * (LOG_2PI_E + np.log(conditional_variances(k)))


def information_gain(k, noise_variance: float) -> float:
    """``I(x; x + ε) = ½ log det(I + K / σ²)`` for ``ε ~ N(0, σ² I)``."""
    if not noise_variance > 0:
        raise ValueError(f"noise_variance must be positive; got {noise_variance}")
    k = _check_square(k)
    return float(np.log(np.diag(_cholesky(np.eye(len(k)) + k / noise_variance))).sum())


def power_law_spectrum(n: int, alpha: float, scale: float = 1.0) -> np.ndarray:
    """``scale · k^(−α)`` for ``k = 1..n``."""
    return scale * np.arange(1, n + 1, dtype=float) ** (-float(alpha))


def covariance_with_spectrum(eigenvalues, seed: int = 0) -> np.ndarray:
    """``U diag(λ) Uᵀ`` with a random orthogonal ``U``: a covariance with exactly the given spectrum."""
    lam = np.asarray(eigenvalues, dtype=float)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(lam), len(lam))))
    return (q * lam) @ q.T


def sample_gaussian(k, n_samples: int, seed: int = 0) -> np.ndarray:
    """``n_samples`` draws of ``N(0, K)``, as rows."""
    k = _check_square(k)
    return np.random.default_rng(seed).standard_normal((n_samples, len(k))) @ _cholesky(k).T


def rbf_kernel(positions, length_scale: float, variance: float = 1.0, jitter: float = 1e-6) -> np.ndarray:
    """Squared-exponential kernel on scalar inputs, with a jitter on the diagonal."""
    x = np.asarray(positions, dtype=float)[:, None]
    return variance * np.exp(-0.5 * ((x - x.T) / length_scale) ** 2) + jitter * np.eye(len(x))


def residual_variance(eigenvalues, m: int) -> float:
    """``R(m) = Σ_{k>m} λ_k``: the variance left after resolving the top ``m`` directions."""
    lam = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    return float(lam[m:].sum())


def residual_information(eigenvalues, m: int, noise_variance: float) -> float:
    """``½ Σ_{k>m} log(1 + λ_k / σ²)``: the information about ``x`` left in the unresolved directions."""
    lam = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    return float(0.5 * np.log1p(lam[m:] / noise_variance).sum())


def residual_variance_bounds(m: int, alpha: float, scale: float = 1.0) -> tuple[float, float]:
    """Integral-test bounds on ``Σ_{k>m} scale · k^(−α)`` for an infinite spectrum (``α > 1``)."""
    if not alpha > 1:
        raise ValueError(f"the tail sum converges only for alpha > 1; got {alpha}")
    return scale * (m + 1) ** (1 - alpha) / (alpha - 1), scale * m ** (1 - alpha) / (alpha - 1)


def spectrum_decay(eigenvalues, k_min: int = 2, k_max: int | None = None) -> float:
    """``α`` of ``λ_k ∝ k^(−α)`` by least squares of ``log λ_k`` on ``log k`` over ``k_min ≤ k ≤ k_max``."""
    lam = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    k_max = k_max or len(lam)
    ks = np.arange(k_min, k_max + 1)
    values = lam[ks - 1]
    keep = values > 0
    if keep.sum() < 2:
        raise ValueError("fewer than two positive eigenvalues in the chosen range")
    slope = np.polyfit(np.log(ks[keep]), np.log(values[keep]), 1)[0]
    return float(-slope)
