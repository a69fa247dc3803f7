"""The information gain of a new token is a ridge regression (chapter 4, claim C3).

With token states ``h_1..h_T`` (rows of ``H``, ``T × d``), the linear kernel ``K = H Hᵀ`` and noise ``σ²``:

* the information gain of token ``t`` given the tokens before it is ``IG_t = ½ log(1 + r_t / σ²)``, where
  ``r_t = min_β ‖h_t − H_<tᵀ β‖² + σ² ‖β‖²`` is the optimal ridge objective of regressing ``h_t`` on the
  previous states (the ``d`` coordinates are the samples, the previous tokens the features);
* ``Σ_t IG_t = ½ log det(I + K / σ²)`` (chain rule), and every ``IG_t`` at once is ``log L_tt`` for the Cholesky
  factor ``L`` of ``I + K / σ²``.

Everything is float64: differences of log-determinants lose about four digits in float32.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge


def prepare_states(states, drop_first: bool = True, normalize: bool = True) -> np.ndarray:
    """The chapter's preprocessing: drop token 0 (massive activations), scale rows to unit norm, float64.

    Parameters
    ----------
    states : array ``[T, d]``
    drop_first, normalize : bool

    Returns
    -------
    ndarray ``[T', d]`` float64
    """
    h = np.asarray(states, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"states must be [tokens, width]; got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError("states contain NaN or Inf")
    if drop_first:
        h = h[1:]
    if normalize:
        norms = np.linalg.norm(h, axis=1, keepdims=True)
        h = h / np.where(norms > 0, norms, 1.0)
    if len(h) < 1:
        raise ValueError("no tokens left after preprocessing")
    return h


def ridge_gains(states, noise_variance: float) -> np.ndarray:
    """``IG_t`` for every position of ``states`` ``[T, d]`` (already prepared), from one Cholesky factor.

    Returns
    -------
    ndarray ``[T]`` in nats; ``IG_0`` (no context) is ``½ log(1 + ‖h_0‖² / σ²)``.
    """
    if not noise_variance > 0:
        raise ValueError(f"noise_variance must be positive; got {noise_variance}")
    h = np.asarray(states, dtype=np.float64)
    m = np.eye(len(h)) + (h @ h.T) / noise_variance
    return np.log(np.diag(np.linalg.cholesky(m)))


def ridge_objective(states, t: int, noise_variance: float) -> float:
    """``r_t = min_β ‖h_t − H_<tᵀ β‖² + σ² ‖β‖²`` by solving the ridge normal equations (reference route)."""
    h = np.asarray(states, dtype=np.float64)
    target = h[t]
    if t == 0:
        return float(target @ target)
    past = h[:t]  # features are previous tokens: X = past.T, shape [d, t]
    beta = np.linalg.solve(past @ past.T + noise_variance * np.eye(t), past @ target)
    residual = target - past.T @ beta
    return float(residual @ residual + noise_variance * beta @ beta)


def ridge_information_gain(states, t: int, noise_variance: float) -> float:
    """``IG_t = ½ log(1 + r_t / σ²)`` through the optimal ridge objective."""
    return 0.5 * float(np.log1p(ridge_objective(states, t, noise_variance) / noise_variance))


def ridge_identity_errors(states, noise_variance: float, step: int = 16) -> np.ndarray:
    """Relative error of :func:`ridge_gains` against scikit-learn's ``Ridge`` (no intercept, Cholesky solver) at
    every ``step``-th position ``t ≥ 1`` of prepared ``states`` ``[T, d]``: chapter 4's check that the Cholesky
    route *is* the ridge regression of each state on the earlier ones. Returns ``[positions checked]``."""
    h = np.asarray(states, dtype=np.float64)
    gains = ridge_gains(h, noise_variance)
    errors = []
    for t in range(1, len(h), step):
        ridge = Ridge(alpha=noise_variance, fit_intercept=False, solver="cholesky").fit(h[:t].T, h[t])
        residual = h[t] - h[:t].T @ ridge.coef_
        objective = residual @ residual + noise_variance * ridge.coef_ @ ridge.coef_
        via_sklearn = 0.5 * np.log1p(objective / noise_variance)
        errors.append(abs(gains[t] - via_sklearn) / abs(via_sklearn))
    return np.array(errors)


def total_information(states, noise_variance: float) -> float:
    """``½ log det(I + H Hᵀ / σ²)``: the information of the whole sequence (sum of every ``IG_t``)."""
    h = np.asarray(states, dtype=np.float64)
    return 0.5 * float(np.linalg.slogdet(np.eye(len(h)) + (h @ h.T) / noise_variance)[1])
