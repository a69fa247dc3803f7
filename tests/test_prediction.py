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


def test_the_c2_rule_counts_the_agreeing_predictions():
    from types import SimpleNamespace

    from llmgeom.experiments.prediction import c2_verdict

    yes, no = SimpleNamespace(agrees=True), SimpleNamespace(agrees=False)
    assert c2_verdict([yes, yes]) == "supported"
    assert c2_verdict([yes, no]) == c2_verdict([no, yes]) == "partly supported"
    assert c2_verdict([no, no]) == "not supported"


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
