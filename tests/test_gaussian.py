"""Every closed form of chapter 3 against an independent computation or Monte Carlo."""

import math

import numpy as np
import pytest

from llmgeom.core.gaussian import (LOG_2PI_E, conditional_entropies, conditional_variances, covariance_with_spectrum,
                                   gaussian_entropy, information_gain, power_law_spectrum, rbf_kernel,
                                   residual_information, residual_variance, residual_variance_bounds, sample_gaussian,
                                   schur_conditional_variance, spectrum_decay)


def random_covariance(n, seed=0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return a @ a.T / n + 0.1 * np.eye(n)


def test_entropy_matches_half_log_det_and_monte_carlo():
    k = random_covariance(5)
    closed = gaussian_entropy(k)
    assert closed == pytest.approx(0.5 * np.linalg.slogdet(2 * np.pi * np.e * k)[1], rel=1e-12)
    x = sample_gaussian(k, 200_000, seed=1)
    inv = np.linalg.inv(k)
    log_density = -0.5 * np.einsum("ni,ij,nj->n", x, inv, x) - 0.5 * np.linalg.slogdet(2 * np.pi * k)[1]
    assert -log_density.mean() == pytest.approx(closed, abs=0.02)


def test_chain_rule_and_schur_complements():
    k = random_covariance(8, seed=2)
    variances = conditional_variances(k)
    for t in range(8):
        assert variances[t] == pytest.approx(schur_conditional_variance(k, t), rel=1e-10)
    assert conditional_entropies(k).sum() == pytest.approx(gaussian_entropy(k), rel=1e-12)
    np.testing.assert_allclose(conditional_entropies(k), 0.5 * (LOG_2PI_E + np.log(variances)))


def test_conditional_variance_is_the_regression_residual_of_samples():
    k = random_covariance(4, seed=3)
    x = sample_gaussian(k, 400_000, seed=4)
    coef, *_ = np.linalg.lstsq(x[:, :3], x[:, 3], rcond=None)
    residual = x[:, 3] - x[:, :3] @ coef
    assert residual.var() == pytest.approx(schur_conditional_variance(k, 3), rel=0.01)


def test_information_gain_closed_form():
    k = random_covariance(6, seed=5)
    expected = 0.5 * np.linalg.slogdet(np.eye(6) + k / 0.3)[1]
    assert information_gain(k, 0.3) == pytest.approx(expected, rel=1e-12)
    # I(x; y) = h(y) - h(y | x) with y = x + noise
    h_y = gaussian_entropy(k + 0.3 * np.eye(6))
    h_noise = gaussian_entropy(0.3 * np.eye(6))
    assert information_gain(k, 0.3) == pytest.approx(h_y - h_noise, rel=1e-12)


def test_covariance_has_the_requested_spectrum_and_samples_match_it():
    lam = power_law_spectrum(10, 1.5)
    k = covariance_with_spectrum(lam, seed=6)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(k))[::-1], lam, rtol=1e-10)
    x = sample_gaussian(k, 100_000, seed=7)
    np.testing.assert_allclose(np.cov(x.T), k, atol=0.02)


def test_residual_variance_lies_between_its_integral_bounds():
    from scipy.special import zeta

    for alpha in (1.5, 2.0, 3.0):
        lam = power_law_spectrum(100_000, alpha)
        for m in (10, 100, 1000):
            tail = zeta(alpha, m + 1)  # the exact infinite tail, sum over k > m of k^-alpha
            low, high = residual_variance_bounds(m, alpha)
            assert low <= tail <= high
            # the finite spectrum's residual is the infinite tail minus what lies beyond its last eigenvalue
            assert residual_variance(lam, m) == pytest.approx(tail - zeta(alpha, 100_001), rel=1e-9)


def test_residual_variance_exponent_is_alpha_minus_one():
    for alpha in (1.5, 2.0, 3.0):
        lam = power_law_spectrum(1_000_000, alpha)
        ms = np.array([100, 200, 400, 800, 1600])
        r = np.array([residual_variance(lam, m) for m in ms])
        slope = np.polyfit(np.log(ms), np.log(r), 1)[0]
        assert -slope == pytest.approx(alpha - 1, abs=0.02)


def test_residual_information_has_the_same_exponent_when_lambda_is_below_noise():
    lam = power_law_spectrum(1_000_000, 2.0)
    ms = np.array([100, 200, 400, 800, 1600])
    info = np.array([residual_information(lam, m, noise_variance=1.0) for m in ms])
    slope = np.polyfit(np.log(ms), np.log(info), 1)[0]
    assert -slope == pytest.approx(1.0, abs=0.02)


def test_spectrum_decay_recovers_alpha():
    assert spectrum_decay(power_law_spectrum(500, 1.7), 2, 400) == pytest.approx(1.7)


def test_rbf_kernel_conditional_variance_shrinks_with_context():
    k = rbf_kernel(np.arange(20), length_scale=3.0, jitter=1e-4)
    v = conditional_variances(k)
    assert v[0] == pytest.approx(1 + 1e-4) and (np.diff(v[:5]) < 0).all()


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_entropy(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        gaussian_entropy(np.ones((2, 3)))
    with pytest.raises(ValueError, match="alpha > 1"):
        residual_variance_bounds(10, 0.8)
    with pytest.raises(ValueError, match="noise_variance must be positive"):
        information_gain(np.eye(2), 0.0)
    assert math.isfinite(gaussian_entropy(np.eye(3)))


def test_truncated_power_law_entropy_limits_of_the_exercise():
    from scipy.special import zeta

    from llmgeom.core.entropy import spectral_entropy
    from llmgeom.core.synthetic import power_law_weights

    r, alpha = 1_000_000, 0.5
    assert spectral_entropy(power_law_weights(r, alpha)) == pytest.approx(
        np.log(r) - np.log(1 - alpha) - alpha / (1 - alpha), abs=0.01)
    zeta_prime_2 = -0.9375482543158437  # ζ'(2)
    limit = np.log(zeta(2.0)) - 2.0 * zeta_prime_2 / zeta(2.0)
    assert spectral_entropy(power_law_weights(r, 2.0)) == pytest.approx(limit, abs=1e-3)
