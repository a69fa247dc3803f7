"""Which previous tokens does a sparse regression pick? Lasso on token states (chapter 5, claim C4).

The last token's state (or the update a block writes into it) is regressed on the previous tokens' states with an
ℓ1 penalty; the ``d`` coordinates are the samples and the context tokens the features, as in chapter 4's ridge
(:mod:`llmgeom.core.ridge`, whose preprocessing :func:`~llmgeom.core.ridge.prepare_states` is shared). A token's score
is how early it enters the Lasso path.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path, lasso_path

from llmgeom.core.ridge import prepare_states


def lasso_design(context, target, centre: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The chapter-5 regression problem: unit-norm context states, centred over the context, and the target.

    Parameters
    ----------
    context : array ``[m, d]``, the previous tokens' states (token 0 already left out)
    target : array ``[d]``, the last token's state, or the update a block writes into it
    centre : subtract the context mean from every context state and from the target, so a direction every
        token shares (the first-token sink, a common bias) cannot win the selection

    Returns
    -------
    ``(X, y)`` with ``X`` ``[d, m]`` (the ``d`` coordinates are the samples, the tokens the features) and ``y``
    ``[d]``, float64, the target scaled to unit norm.
    """
    x = prepare_states(context, drop_first=False)
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    if y.shape[0] != x.shape[1]:
        raise ValueError(f"target has width {y.shape[0]} but the context states have width {x.shape[1]}")
    if not np.isfinite(y).all():
        raise ValueError("target contains NaN or Inf")
    y = y / max(np.linalg.norm(y), 1e-30)
    if centre:
        mean = x.mean(axis=0)
        x = x - mean
        y = y - mean
    return x.T, y


def lasso_entry_scores(
    context, target, method: str = "lars", n_alphas: int = 50, eps: float = 1e-3, centre: bool = True
) -> np.ndarray:
    """Rank context tokens by when they enter the Lasso path: a tuning-free selection score.

    The Lasso ``min_β ½‖y − Xβ‖²/d + α‖β‖₁`` is solved along α, from the largest useful value
    ``α_max = ‖Xᵀy‖_∞ / d`` (where every β is 0) downwards. A token's score is the α at which it first becomes
    active: larger means it was needed earlier by the sparse reconstruction. Tokens that never enter score −1.

    Parameters
    ----------
    context : array ``[m, d]``; target : array ``[d]`` (see :func:`lasso_design`)
    method : ``"lars"`` (default) follows the exact piecewise-linear path with LARS in its Lasso variant, one
        step per kink; ``"cd"`` uses scikit-learn's ``lasso_path`` (coordinate descent) on ``n_alphas`` values of α
        down to ``eps · α_max`` — a grid, so tokens entering between two grid points tie (broken by ``|β|``).
        Both solve the same problem; the tests check they rank the same way.

    Returns
    -------
    ndarray ``[m]``: higher means selected earlier.
    """
    x, y = lasso_design(context, target, centre)
    with warnings.catch_warnings():
        # near-collinear states make LARS drop and re-add tokens, and the smallest α of a coordinate-descent grid
        # converge slowly; the entry order is settled long before either matters
        warnings.simplefilter("ignore", ConvergenceWarning)
        if method == "lars":
            alphas, _, coefs = lars_path(x, y, method="lasso")
        elif method == "cd":
            alphas, coefs, _ = lasso_path(x, y, alphas=n_alphas, eps=eps)
        else:
            raise ValueError(f"method must be 'lars' or 'cd'; got {method!r}")
    active = np.abs(coefs) > 0  # [m, steps], α decreasing
    entered = active.any(axis=1)
    entry_alpha = np.where(entered, alphas[active.argmax(axis=1)], -1.0)
    final = np.abs(coefs[:, -1])
    # the tie-break is far below the gap between two distinct entry points of the path
    return entry_alpha + 1e-9 * alphas.max() * final / (final.max() + 1e-30)


def lasso_select(context, target, k: int, **options) -> np.ndarray:
    """Indices of the ``k`` context tokens that enter the Lasso path first (see :func:`lasso_entry_scores`)."""
    scores = lasso_entry_scores(context, target, **options)
    if not 1 <= k <= len(scores):
        raise ValueError(f"k must be between 1 and the number of context tokens ({len(scores)}); got {k}")
    return np.argsort(-scores, kind="stable")[:k]
