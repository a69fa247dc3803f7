"""Chapter 3's predictions from per-passage spectra, against constructed spectra with known decays."""

import numpy as np
import pytest

from llmgeom.core.synthetic import power_law_weights
from llmgeom.experiments.prediction import entropy_prediction, loss_prediction, passage_decays, truncated_entropy

WIDTHS = np.array([64, 128, 256, 384])
PARAMS = 12.0 * 2 * WIDTHS**2.0


def test_each_passage_decay_is_recovered_from_its_spectrum():
    alphas = np.array([0.6, 1.1, 1.7])
    spectra = np.stack([power_law_weights(100, a) for a in alphas])
    np.testing.assert_allclose(passage_decays(spectra, np.full(3, 200), width=100), alphas, rtol=1e-9)
    nan_row = np.full((1, 100), np.nan)
    assert np.isnan(passage_decays(nan_row, [200], width=100)[0])


def _alpha_groups(rng, seeds=2, passages=30, spread=0.05):
    return [1.2 + 0.1 * i + rng.normal(0, spread, (seeds, passages)) for i in range(len(WIDTHS))]


def test_a_measurement_equal_to_the_prediction_agrees_and_a_distorted_one_does_not():
    rng = np.random.default_rng(0)
    alphas = _alpha_groups(rng)
    exact = [truncated_entropy(a, d) / np.log(d) for a, d in zip(alphas, WIDTHS)]
    same = entropy_prediction(PARAMS, WIDTHS, WIDTHS, alphas, exact, n_boot=200)
    assert same.difference == pytest.approx(0, abs=1e-12) and same.agrees
    assert same.predicted_low <= same.predicted <= same.predicted_high
    tilted = [m * (p / PARAMS[0]) ** -0.05 for m, p in zip(exact, PARAMS)]  # measured falls faster by 0.05
    off = entropy_prediction(PARAMS, WIDTHS, WIDTHS, alphas, tilted, n_boot=200)
    assert off.difference == pytest.approx(-0.05, abs=1e-9) and not off.agrees


def test_loss_prediction_agrees_with_a_law_of_the_predicted_exponent_only():
    rng = np.random.default_rng(1)
    alphas = _alpha_groups(rng, spread=0.02)
    gamma = 0.5  # widths ∝ P^(1/2) here
    predicted = gamma * (alphas[-1].mean() - 1)

    def losses(b):
        return [3.0 * p**-b + 1.5 + rng.normal(0, 1e-3, (2, 200)) for p in PARAMS]

    match = loss_prediction(PARAMS, WIDTHS, alphas, losses(predicted), n_boot=50)
    assert match.predicted == pytest.approx(predicted)
    assert match.agrees
    assert not loss_prediction(PARAMS, WIDTHS, alphas, losses(predicted + 0.3), n_boot=50).agrees


def test_the_per_size_means_are_the_measured_and_predicted_means_the_exponents_fit():
    from llmgeom.core.fit import fit_power_law

    rng = np.random.default_rng(2)
    alphas = _alpha_groups(rng)
    measured = [truncated_entropy(a, d) / np.log(d) + rng.normal(0, 0.01, a.shape) for a, d in zip(alphas, WIDTHS)]
    check = entropy_prediction(PARAMS, WIDTHS, WIDTHS, alphas, measured, n_boot=200)
    sizes = check.per_size
    np.testing.assert_allclose(sizes["measured"], [m.mean() for m in measured])  # equal seeds: the plain mean
    assert fit_power_law(PARAMS, sizes["predicted"]).b == pytest.approx(check.predicted)
    assert fit_power_law(PARAMS, sizes["measured"]).b == pytest.approx(check.measured)
    assert (sizes["measured_low"] < sizes["measured"]).all() and (sizes["measured"] < sizes["measured_high"]).all()


def _comparison(measured, low, high):
    from llmgeom.experiments.prediction import Comparison

    return Comparison(measured + (low + high) / 2, 0, 0, measured, 0, 0, (low + high) / 2, low, high)


def test_a_prediction_agrees_inside_the_band_disagrees_outside_it_and_is_undecided_across_its_edge():
    from llmgeom.experiments.prediction import agreement_band

    assert agreement_band(0.02) == 0.01 and agreement_band(-0.2) == pytest.approx(0.05)
    assert _comparison(0.02, -0.005, 0.008).word == "agrees"  # floor band ±0.01
    assert _comparison(0.02, 0.011, 0.03).word == "disagrees"
    assert _comparison(0.02, -0.03, -0.0101).word == "disagrees"
    assert _comparison(0.02, -0.005, 0.02).word == "undecided"
    assert _comparison(0.2, -0.04, 0.049).word == "agrees"  # a quarter of |measured| = 0.05
    assert _comparison(0.2, -0.06, 0.0).word == "undecided"
    # a tight interval that excludes zero can still agree: the old rule's failure mode
    assert _comparison(0.2, 0.001, 0.002).word == "agrees"


def test_the_c2_rule_combines_the_words_of_the_predictions():
    from types import SimpleNamespace

    from llmgeom.experiments.prediction import c2_verdict

    yes, no, maybe = (SimpleNamespace(word=w) for w in ("agrees", "disagrees", "undecided"))
    assert c2_verdict([yes, yes]) == "supported"
    assert c2_verdict([yes, no]) == c2_verdict([maybe, yes]) == "partly supported"
    assert c2_verdict([no, no]) == "not supported"
    assert c2_verdict([no, maybe]) == c2_verdict([maybe, maybe]) == "undecided"


def test_every_fit_window_recovers_the_decay_of_an_exact_power_law():
    from llmgeom.experiments.prediction import WINDOWS

    ranks = np.arange(1, 101)
    spectra = np.stack([ranks**-a / (ranks**-a).sum() for a in (0.8, 1.5)])
    for window in WINDOWS.values():
        np.testing.assert_allclose(passage_decays(spectra, np.full(2, 200), 100, window), [0.8, 1.5], rtol=1e-9)
    assert np.isnan(passage_decays(spectra[:1], [9], 100, (2, 4))).all()  # r = 8: ranks 2 … 2 cannot be fitted


def test_the_passage_table_is_the_spectra_chapter_2_caches(tiny_long_model_dir):
    from llmgeom.core.entropy import spectral_entropy
    from llmgeom.experiments.prediction import passage_table
    from llmgeom.experiments.scaling import corpus_spectra
    from llmgeom.models.loading import load

    loaded = load(str(tiny_long_model_dir))
    alpha, lnd = passage_table(loaded, ["austen", "mobydick"], n_texts=4, n_tokens=40)
    assert alpha.shape == lnd.shape == (8,)  # every corpus in turn
    second = corpus_spectra(loaded, "mobydick", 4, 40)
    np.testing.assert_allclose(lnd[4:], spectral_entropy(second["eigenvalues"]) / np.log(loaded.width))
    np.testing.assert_allclose(alpha[4:], passage_decays(second["eigenvalues"], second["n_tokens"], loaded.width))
