"""The Gaussian theory's two predictions (claim C2), from per-passage spectra, with propagated uncertainty.

Derived in chapter 3, "A Gaussian-process theory of the scaling law" (``notebooks/03_gaussian_theory.md``).

A passage's spectrum is the eigenvalues of its own ``Σ`` (chapter 1), the same matrix its entropy comes from:

* :func:`passage_decays` — ``α`` of ``λ_k ∝ k^(−α)`` fitted to each passage's spectrum over a window of ranks,
  ``k = 2 … r/2`` by default (the first eigenvalue and the noisy bottom half left out; ``WINDOWS`` lists the ones
  chapter 3 shows), with ``r = min(N − 1, d)`` the passage's rank bound;
* :func:`entropy_prediction` — each passage's ``H`` predicted as the entropy of a power law with its own ``α``
  truncated at its ``r``; the exponent of the predicted ``H / ln d`` across sizes against the measured one, with
  the interval of their difference from one bootstrap over seeds within sizes and passages (paired: the
  prediction and the measurement come from the same spectra);
* :func:`loss_prediction` — ``γ (α − 1)`` with ``α`` the largest size's mean decay and ``d ∝ P^γ``, against the
  loss-above-floor exponent; the two are bootstrapped independently (passages and held-out sequences are
  different texts) and the interval is that of their difference.

The rule (the protocol page): a prediction *agrees* when the 95% interval of predicted minus measured lies inside
``±max(0.01, 0.25 |measured|)`` (:func:`agreement_band`), *disagrees* when it lies outside that band, and is
*undecided* otherwise (:attr:`Comparison.word`); :func:`c2_verdict` combines the two predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llmgeom.core.entropy import spectral_entropy
from llmgeom.core.fit import (fit_power_law, hierarchical_means, hierarchical_power_law, percentile_interval,
                              power_law_exponents)
from llmgeom.core.gaussian import spectrum_decay
from llmgeom.core.synthetic import power_law_weights
from llmgeom.experiments.scaling import corpus_spectra


WINDOWS = {"k = 2 … r/2": (2, 2), "k = 1 … r": (1, 1), "k = 2 … r/4": (2, 4)}
"""Fit windows of ``α``, as ``(first rank, divisor of r for the last rank)``; the first one decides (the protocol
page), the others show how much the window moves each prediction."""

DECIDING_WINDOW = "k = 2 … r/2"


def passage_decays(eigenvalues, n_tokens, width: int, window: tuple[int, int] = WINDOWS[DECIDING_WINDOW]) -> np.ndarray:
    """``α`` of each passage's spectrum ``[texts, r_max]`` over ``k = window[0] … r // window[1]`` (NaN rows, and
    windows of fewer than three ranks, give NaN): ``[texts]``."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    ranks = np.minimum(np.asarray(n_tokens) - 1, width)
    first, divisor = window
    return np.array([spectrum_decay(row, first, int(r) // divisor)
                     if np.isfinite(row).all() and int(r) // divisor - first >= 2 else np.nan
                     for row, r in zip(eigenvalues, ranks)])


def truncated_entropy(alphas, rank: int) -> np.ndarray:
    """``H`` (nats) of ``p_k ∝ k^(−α)``, ``k = 1 … rank``, for each ``α`` (NaN stays NaN)."""
    alphas = np.asarray(alphas, dtype=float)
    out = np.full(alphas.shape, np.nan)
    for index, alpha in np.ndenumerate(alphas):
        if np.isfinite(alpha):
            out[index] = float(spectral_entropy(power_law_weights(int(rank), alpha)))
    return out


@dataclass(frozen=True)
class Comparison:
    """A predicted and a measured exponent, each with its interval, and the interval of their difference."""

    predicted: float
    predicted_low: float
    predicted_high: float
    measured: float
    measured_low: float
    measured_high: float
    difference: float
    difference_low: float
    difference_high: float

    per_size: dict = field(default_factory=dict, compare=False)
    """For the entropy prediction: ``"predicted"`` and ``"measured"`` means per size (over seeds and passages) and
    ``"measured_low"`` / ``"measured_high"``, their 95% intervals, from the same draws as the exponents."""

    @property
    def band(self) -> float:
        """The half-width of the agreement band, :func:`agreement_band` of the measured exponent."""
        return agreement_band(self.measured)

    @property
    def word(self) -> str:
        """*agrees* if the interval of predicted − measured lies inside ``±band``, *disagrees* if it lies outside
        it, *undecided* otherwise."""
        if -self.band <= self.difference_low and self.difference_high <= self.band:
            return "agrees"
        if self.difference_low > self.band or self.difference_high < -self.band:
            return "disagrees"
        return "undecided"

    @property
    def agrees(self) -> bool:
        return self.word == "agrees"


def agreement_band(measured: float, floor: float = 0.01, share: float = 0.25) -> float:
    """``max(floor, share · |measured|)``: how far a prediction may sit from its measurement and still agree."""
    return max(floor, share * abs(measured))


def c2_verdict(checks) -> str:
    """Chapter 3's rule: C2 is *supported* if every prediction agrees, *partly supported* if some do, *not
    supported* if every one disagrees, *undecided* otherwise (none agrees and at least one is undecided)."""
    words = [check.word for check in checks]
    agree = words.count("agrees")
    if agree:
        return "supported" if agree == len(words) else "partly supported"
    return "not supported" if words.count("disagrees") == len(words) else "undecided"


def passage_table(loaded, corpora, n_texts: int, n_tokens: int, drop_first_token: bool = False,
                  seed: int = 0, window: tuple[int, int] = WINDOWS[DECIDING_WINDOW]) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's decay ``α`` (over ``window``, see :func:`passage_decays`) and measured ``H / ln d``, over every
    corpus in turn, from the same per-passage spectra (:func:`llmgeom.experiments.scaling.corpus_spectra`, which
    chapter 2's deciding length caches): ``([passages], [passages])``."""
    alpha, lnd = [], []
    for corpus in corpora:
        s = corpus_spectra(loaded, corpus, n_texts, n_tokens, drop_first_token=drop_first_token, seed=seed)
        alpha.append(passage_decays(s["eigenvalues"], s["n_tokens"], loaded.width, window))
        lnd.append(spectral_entropy(s["eigenvalues"]) / np.log(loaded.width))
    return np.concatenate(alpha), np.concatenate(lnd)


def entropy_prediction(params, widths, ranks, alpha_groups, measured_groups, n_boot: int = 1000, seed: int = 0) -> Comparison:
    """The ``H / ln d`` exponent predicted from each passage's own decay against the measured one.

    Parameters
    ----------
    params, widths, ranks : ``[sizes]`` non-embedding parameters, widths and the passages' rank bound per size
    alpha_groups, measured_groups : one ``[seeds, passages]`` array per size: each passage's ``α`` and its measured
        ``H / ln d``, from the same spectra
    """
    predicted_groups = [truncated_entropy(a, int(r)) / np.log(d) for a, r, d in zip(alpha_groups, ranks, widths)]
    full, draws = hierarchical_means({"p": predicted_groups, "m": measured_groups}, n_boot=n_boot, seed=seed)
    p_draws, m_draws = power_law_exponents(params, draws["p"]), power_law_exponents(params, draws["m"])
    p, m = fit_power_law(params, full["p"]).b, fit_power_law(params, full["m"]).b
    low, high = percentile_interval(draws["m"], axis=0)
    per_size = {"predicted": full["p"], "measured": full["m"], "measured_low": low, "measured_high": high}
    return Comparison(p, *percentile_interval(p_draws), m, *percentile_interval(m_draws),
                      p - m, *percentile_interval(p_draws - m_draws), per_size=per_size)


def loss_prediction(params, widths, alpha_groups, loss_groups, n_boot: int = 200, seed: int = 0) -> Comparison:
    """``γ (α − 1)``, with ``α`` the largest size's mean passage decay, against the loss-above-floor exponent.

    ``γ`` is fitted from ``d ∝ P^γ`` on the family's own widths. ``alpha_groups`` are ``[seeds, passages]`` per
    size; ``loss_groups`` ``[seeds, sequences]`` per size. Both bootstraps resample seeds, then texts.
    """
    gamma = fit_power_law(params, 1 / np.asarray(widths, dtype=float)).b  # d ∝ P^γ  ⟺  1/d ∝ P^−γ
    full, draws = hierarchical_means({"a": alpha_groups}, n_boot=n_boot, seed=seed + 1)
    predicted_draws = gamma * (draws["a"][:, -1] - 1)
    # the same draws as llmgeom.experiments.family.loss_law(family, offset=True, n_boot, seed): one loss exponent in the book
    loss = hierarchical_power_law(params, loss_groups, offset=True, n_boot=n_boot, seed=seed)
    p = gamma * (full["a"][-1] - 1)
    return Comparison(p, *percentile_interval(predicted_draws), loss.fit.b, loss.b_low, loss.b_high,
                      p - loss.fit.b, *percentile_interval(predicted_draws - loss.b_samples))
