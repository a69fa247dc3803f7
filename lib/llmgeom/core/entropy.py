"""Matrix entropy of token representations, batched, through the smaller Gram side.

Derived in chapter 1, "Matrix entropy" (``notebooks/01_matrix_entropy.md``).

For one text with hidden states ``R`` of shape ``[N, d]`` (chapter 1; the companion code's definition):

1. centre over tokens, then scale every row to unit L2 norm: ``Z``;
2. ``Σ = Zᵀ Z / N`` (``d × d``, trace 1);
3. ``H = −Σ λ ln λ`` over the eigenvalues of ``Σ`` (natural log, ``0 ln 0 = 0``).

The companion code takes an SVD of the ``d × d`` matrix for every text: ``O(d³)``. The ``N × N`` Gram matrix
``Z Zᵀ / N`` has the same non-zero spectrum, so this module always decomposes the smaller of the two sides,
with ``eigvalsh`` (the matrices are symmetric), for a whole padded batch at once.

Policy for short texts: after centring, a 1-token text has no spectrum at all. Texts with fewer than
``MIN_TOKENS`` valid tokens (and texts whose states are not finite) are marked invalid: their per-text values
are NaN and every average skips them and reports how many it skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

MIN_TOKENS = 2
"""A text needs at least this many tokens to have a centred spectrum (one token centres to zero)."""


def _as_batch(states, mask):
    """Return ``(states [B, N, d], mask [B, N] bool)`` as torch tensors; accept one text ``[N, d]`` too."""
    states = torch.as_tensor(states)
    if states.ndim == 2:
        states = states.unsqueeze(0)
        if mask is not None:
            mask = torch.as_tensor(mask).unsqueeze(0)
    if states.ndim != 3:
        raise ValueError(
            f"states must have shape [N, d] or [B, N, d]; got {tuple(states.shape)}"
        )
    if mask is None:
        mask = torch.ones(states.shape[:2], dtype=torch.bool)
    mask = torch.as_tensor(mask).to(torch.bool)
    if mask.shape != states.shape[:2]:
        raise ValueError(
            f"mask must have shape [B, N] = {tuple(states.shape[:2])}; got {tuple(mask.shape)}"
        )
    return states, mask


def normalize_tokens(states, mask=None, dtype=torch.float64, center=True):
    """Centre each text over its valid tokens, then scale each row to unit L2 norm.

    Parameters
    ----------
    states : array or tensor, shape ``[B, N, d]`` (or ``[N, d]`` for one text)
        Hidden states, padded along ``N``.
    mask : bool array, shape ``[B, N]``, optional
        ``True`` for real tokens, ``False`` for padding. Default: every token is real.
    dtype : torch dtype
        Precision of the computation.
    center : bool, default True
        Subtract each text's mean token first (the companion's definition). ``False`` skips it, which chapter 1
        uses to show what centring does: it is why scaling one token's norm can change ``H``.

    Returns
    -------
    Z : tensor ``[B, N, d]``
        Centred unit rows; padded rows (and rows that centre to exactly zero) are zero, so they add only zero
        eigenvalues to the spectrum.
    """
    states, mask = _as_batch(states, mask)
    x = states.to(dtype)
    m = mask.to(dtype).unsqueeze(-1)
    # padding may hold anything, NaN included
    x = torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=dtype))
    count = m.sum(dim=1, keepdim=True).clamp_min(1)
    centred = (x - x.sum(dim=1, keepdim=True) / count) * m if center else x
    return torch.nn.functional.normalize(centred, dim=-1)


@dataclass(frozen=True)
class Spectra:
    """Trace-normalised eigenvalues of each text's token covariance ``Σ``.

    Attributes
    ----------
    eigenvalues : ndarray ``[B, r]``
        Sorted descending, clamped at 0, summing to 1 per valid text (NaN rows for invalid texts);
        ``r = min(N_padded, d)``.
    n_tokens : ndarray ``[B]`` of int
        Valid tokens per text.
    width : int
        ``d``, the representation width.
    valid : ndarray ``[B]`` of bool
        Whether the text has a spectrum (at least ``MIN_TOKENS`` finite tokens).
    centered : bool
        Whether the tokens were centred before normalisation.
    """

    eigenvalues: np.ndarray
    n_tokens: np.ndarray
    width: int
    valid: np.ndarray
    centered: bool = True

    @property
    def rank_bound(self) -> np.ndarray:
        """``min(N − 1, d)`` (``min(N, d)`` uncentred): the most non-zero eigenvalues a text can have."""
        return np.minimum(self.n_tokens - int(self.centered), self.width)


def token_spectra(states, mask=None, dtype=torch.float64, center=True) -> Spectra:
    """Eigenvalues of ``Σ = Zᵀ Z / N`` for a padded batch, through the smaller of ``Z Zᵀ`` and ``Zᵀ Z``.

    Parameters
    ----------
    states : array or tensor ``[B, N, d]`` (or ``[N, d]``)
    mask : bool ``[B, N]``, optional
    dtype : torch dtype, default float64
        Precision of the centring, normalisation, Gram matrix and its eigenvalues (their normalisation and the
        entropy sums are always float64). float64 matches the ``d × d`` route to ~1e-13 nats; float32 (for
        float32 states, as a model returns them) to ~1e-6 relative, at about a third of the cost.
    center : bool, default True
        See :func:`normalize_tokens`.

    Returns
    -------
    Spectra
        Per-text trace-normalised spectra (see :class:`Spectra`).

    Notes
    -----
    Cost per text: ``O(N² d + N³)`` when ``N ≤ d``, else ``O(N d² + d³)``; the companion route always pays
    ``O(N d² + d³)`` (chapter 1, theorem "Gram identity").
    """
    states, mask = _as_batch(states, mask)
    finite = torch.isfinite(states).all(dim=-1) | ~mask
    finite = finite.all(dim=1)
    z = normalize_tokens(states, mask, dtype=dtype, center=center)
    n_tokens = mask.sum(dim=1)
    n_pad, width = z.shape[1], z.shape[2]
    if n_pad <= width:
        gram = z @ z.transpose(1, 2)
    else:
        gram = z.transpose(1, 2) @ z
    # float32 states carry ~7 significant digits; a float32 Gram and eigendecomposition keep H to ~1e-6 relative
    # (tested), and the sums below are taken in float64 either way
    eig = torch.linalg.eigvalsh(torch.nan_to_num(gram)).to(torch.float64).clamp_min(0).flip(-1)
    trace = eig.sum(dim=-1, keepdim=True)
    valid = (n_tokens >= MIN_TOKENS) & finite & (trace.squeeze(-1) > 0)
    eig = torch.where(valid.unsqueeze(-1), eig / trace.clamp_min(torch.finfo(torch.float64).tiny), torch.nan)
    return Spectra(
        eigenvalues=eig.cpu().numpy(),
        n_tokens=n_tokens.cpu().numpy().astype(int),
        width=int(width),
        valid=valid.cpu().numpy(),
        centered=center,
    )


def spectral_entropy(eigenvalues) -> np.ndarray:
    """Shannon entropy ``−Σ p ln p`` (nats) of each row of a spectrum that sums to 1; ``0 ln 0 = 0``.

    Parameters
    ----------
    eigenvalues : array ``[..., r]``

    Returns
    -------
    ndarray ``[...]``; NaN where the row is NaN.
    """
    p = np.asarray(eigenvalues, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out = terms.sum(axis=-1)
    return np.where(np.isnan(p).any(axis=-1), np.nan, out)


@dataclass(frozen=True)
class EntropyResult:
    """Per-text matrix entropy and its normalised variants (chapter 1).

    Attributes
    ----------
    entropy : ndarray ``[B]`` or ``[B, L]``
        ``H`` in nats (per text, or per text and layer); NaN for invalid texts.
    n_tokens, valid, width, rank_bound
        Per text, as in :class:`Spectra`.
    """

    entropy: np.ndarray
    n_tokens: np.ndarray
    width: int
    valid: np.ndarray
    rank_bound: np.ndarray

    def _per_text(self, values) -> np.ndarray:
        """Reshape a per-text array so it broadcasts against ``entropy``."""
        values = np.asarray(values)
        return values.reshape(values.shape + (1,) * (self.entropy.ndim - 1))

    @property
    def normalized(self) -> np.ndarray:
        """``H / ln d``: the companion code's reported metric (tied to the width, see chapter 1)."""
        return self.entropy / math.log(self.width)

    @property
    def normalized_by_rank_bound(self) -> np.ndarray:
        """``H / ln min(N − 1, d)``; defined as 0 where the bound is a single direction (then ``H = 0``)."""
        bound = self._per_text(np.log(self.rank_bound.clip(min=1)).astype(float))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bound > 0, self.entropy / np.where(bound > 0, bound, 1.0), 0.0)
        return np.where(self._per_text(self.valid), ratio, np.nan)

    @property
    def erank(self) -> np.ndarray:
        """Effective rank ``exp(H)``."""
        return np.exp(self.entropy)

    @property
    def n_skipped(self) -> int:
        """Texts without a spectrum (fewer than ``MIN_TOKENS`` tokens, or non-finite states)."""
        return int((~self.valid).sum())

    def summary(self) -> dict:
        """Means over valid texts of every variant (per layer for 2-d results), with the counts used and skipped."""
        v = self.valid
        if not v.any():
            raise ValueError(
                f"none of the {len(v)} texts has a spectrum: each needs at least {MIN_TOKENS} tokens "
                "with finite hidden states"
            )

        def mean(x):
            m = x[v].mean(axis=0)
            return float(m) if np.ndim(m) == 0 else m

        return {
            "entropy": mean(self.entropy),
            "normalized": mean(self.normalized),
            "normalized_by_rank_bound": mean(self.normalized_by_rank_bound),
            "erank": mean(self.erank),
            "n_texts": int(v.sum()),
            "n_skipped": self.n_skipped,
        }


def matrix_entropy(states, mask=None, dtype=torch.float64, center=True) -> EntropyResult:
    """Matrix entropy of every text in a padded batch (chapter 1's definition, Gram route).

    Parameters
    ----------
    states : array or tensor ``[B, N, d]`` or ``[N, d]``
        Hidden states of one layer; padding positions may hold anything.
    mask : bool ``[B, N]``, optional
        ``True`` marks real tokens.
    dtype : torch dtype, default float64
    center : bool, default True
        Centre over tokens first (the companion's definition); see :func:`normalize_tokens`.

    Returns
    -------
    EntropyResult
        ``.entropy`` (H, nats), ``.normalized`` (H / ln d), ``.normalized_by_rank_bound``, ``.erank``,
        ``.summary()``.

    Examples
    --------
    >>> import torch
    >>> r = torch.randn(4, 16, 32)
    >>> matrix_entropy(r).entropy.shape
    (4,)
    """
    spectra = token_spectra(states, mask, dtype=dtype, center=center)
    return EntropyResult(
        entropy=spectral_entropy(spectra.eigenvalues),
        n_tokens=spectra.n_tokens,
        width=spectra.width,
        valid=spectra.valid,
        rank_bound=spectra.rank_bound,
    )


def coding_rate(spectra: Spectra, eps: float, normalize: bool = True) -> np.ndarray:
    """Lossy coding rate ``R_ε(Z) = ½ log det(I + (d / (N ε²)) Zᵀ Z)`` per text (Ma et al. 2007).

    With ``Σ = Zᵀ Z / N`` this is ``½ Σ_k ln(1 + d λ_k / ε²)``, a spectral functional like ``H``.

    Parameters
    ----------
    spectra : Spectra
        From :func:`token_spectra` (trace-normalised eigenvalues).
    eps : float
        Distortion ``ε > 0``.
    normalize : bool, default True
        Divide by the maximum over unit-norm, centred rows: the flat spectrum over ``min(N − 1, d)``
        directions (the functional is concave in the spectrum), so the result lies in ``[0, 1]``.

    Returns
    -------
    ndarray ``[B]`` in nats (or a fraction when ``normalize``); NaN for invalid texts.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive; got {eps}")
    d = spectra.width
    rate = 0.5 * np.log1p(d * spectra.eigenvalues / eps**2).sum(axis=-1)
    if not normalize:
        return rate
    r = spectra.rank_bound.clip(min=1).astype(float)
    maximum = 0.5 * r * np.log1p(d / (r * eps**2))
    return rate / maximum


def companion_matrix_entropy(hidden_states) -> float:
    """REFERENCE ONLY: the companion code's route for one text, kept for tests and benchmarks.

    Mirrors ``waltonfuture/Matrix-Entropy``: centre, unit rows, the ``d × d`` matrix ``Zᵀ Z / N``, its
    ``torch.svd``, ``−Σ λ ln λ`` over the trace-normalised singular values, divided by ``ln d``. It costs
    ``O(d³)`` per text whatever ``N`` is; use :func:`matrix_entropy` instead.

    Parameters
    ----------
    hidden_states : tensor ``[N, d]``

    Returns
    -------
    float
        ``H / ln d``.
    """
    r = torch.as_tensor(hidden_states)
    with torch.no_grad():
        r = r - r.mean(dim=0)
        z = torch.nn.functional.normalize(r, dim=1)
        a = z.T @ z / z.shape[0]
        s = torch.svd(a / torch.trace(a))[1]
        h = -(s * torch.log(s)).nansum().item()
    return h / math.log(a.shape[0])
