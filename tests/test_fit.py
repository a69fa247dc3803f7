"""Power-law fits and bootstrap intervals against data with known exponents."""

import numpy as np
import pytest

from llmgeom.core.fit import bootstrap_mean_ci, bootstrap_power_law, fit_power_law

X = np.array([5e4, 2e5, 6e5, 1.3e6, 3e6, 6e6, 1e7])


def test_exact_power_law_is_recovered():
    fit = fit_power_law(X, 7.0 * X**-0.3)
    assert fit.a == pytest.approx(7.0) and fit.b == pytest.approx(0.3) and fit.c is None
    assert fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(fit.predict(X), 7.0 * X**-0.3)


def test_power_law_with_a_floor_is_recovered():
    fit = fit_power_law(X, 30.0 * X**-0.4 + 1.5, offset=True)
    assert fit.b == pytest.approx(0.4, rel=1e-3) and fit.c == pytest.approx(1.5, rel=1e-3)
    assert fit.r2 > 0.9999


def test_bootstrap_interval_covers_the_true_exponent_and_shrinks_with_more_texts():
    rng = np.random.default_rng(0)
    truth = 2.0 * X**-0.2

    def interval(n_texts):
        table = truth * np.exp(rng.normal(0, 0.1, size=(n_texts, len(X))))
        return bootstrap_power_law(X, table, n_boot=300, seed=1)

    small, large = interval(30), interval(600)
    assert small.b_low <= 0.2 <= small.b_high
    assert large.b_low <= 0.2 <= large.b_high
    assert large.b_halfwidth < small.b_halfwidth


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1, -1, 2])
    with pytest.raises(ValueError, match="too few points"):
        fit_power_law([1, 2, 3], [1, 2, 3], offset=True)
    with pytest.raises(ValueError, match=r"per_text must be \[texts, 7\]"):
        bootstrap_power_law(X, np.ones((5, 3)))


def test_bootstrap_mean_ci_brackets_the_mean():
    values = np.random.default_rng(2).normal(5, 1, 400)
    mean, low, high = bootstrap_mean_ci(values)
    assert low < mean < high and high - low < 0.3 and low < 5 < high


def test_paired_exponent_difference_cancels_shared_text_noise():
    from llmgeom.core.fit import bootstrap_exponent_difference

    rng = np.random.default_rng(3)
    text_effect = np.exp(rng.normal(0, 0.3, size=(200, 1)))  # shared by both tables: must cancel
    a = text_effect * 2.0 * X**-0.25 * np.exp(rng.normal(0, 0.02, size=(200, len(X))))
    b = text_effect * 3.0 * X**-0.05 * np.exp(rng.normal(0, 0.02, size=(200, len(X))))
    diff, low, high = bootstrap_exponent_difference(X, a, b, n_boot=300)
    assert diff == pytest.approx(0.20, abs=0.01)
    assert low <= 0.20 <= high and high - low < 0.02


def test_bootstrap_ratio_covers_the_true_ratio_and_refuses_bad_input():
    import numpy as np
    import pytest

    from llmgeom.core.fit import bootstrap_ratio_ci

    rng = np.random.default_rng(0)
    den = rng.exponential(2.0, 500)
    num = 0.3 * den + rng.normal(0, 0.2, 500)
    ratio, low, high = bootstrap_ratio_ci(num, den)
    assert low < 0.3 < high and low < ratio < high and high - low < 0.1
    with pytest.raises(ValueError, match="paired"):
        bootstrap_ratio_ci(num, den[:-1])
    with pytest.raises(ValueError, match="zero"):
        bootstrap_ratio_ci([1.0, 2.0], [1.0, -1.0])


def test_cluster_bootstrap_widens_the_interval_when_clusters_share_their_values():
    from llmgeom.core.fit import bootstrap_mean_ci, cluster_bootstrap_mean_ci

    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(12), 30)
    values = np.repeat(rng.random(12), 30)  # every value of a cluster is the same: 12 independent values, not 360
    mean, low, high = cluster_bootstrap_mean_ci(values, clusters, seed=0)
    _, naive_low, naive_high = bootstrap_mean_ci(values, seed=0)
    assert mean == pytest.approx(values.mean())
    assert (high - low) > 3 * (naive_high - naive_low)
    # with one value per cluster it is the ordinary bootstrap of the mean
    single = cluster_bootstrap_mean_ci(values[::30], np.arange(12), seed=0)
    assert single[1] < values[::30].mean() < single[2]
    with pytest.raises(ValueError, match="same length"):
        cluster_bootstrap_mean_ci(values, clusters[:-1])


def test_decay_laws_tell_a_power_law_from_an_exponential():
    from llmgeom.core.fit import compare_decay_laws, exponential_decay

    t = np.arange(1, 257, dtype=float)
    power, expo, r2_power, r2_expo = compare_decay_laws(2.0 * t**-0.6 + 0.05, t)
    assert power[1] == pytest.approx(0.6, rel=1e-3) and r2_power > r2_expo
    power, expo, r2_power, r2_expo = compare_decay_laws(exponential_decay(t, 3.0, 20.0, 0.1), t)
    assert expo[1] == pytest.approx(20.0, rel=1e-3) and r2_expo > r2_power


def test_the_curvature_check_finds_a_bend_and_no_bend_in_a_power_law():
    from llmgeom.core.fit import hierarchical_curvature

    x = np.array([1e4, 4e4, 2e5, 1e6, 5e6])
    u = np.log(x) - np.log(x).mean()
    rng = np.random.default_rng(0)
    bent = [np.exp(1 - 0.1 * ui + 0.03 * ui**2) * np.exp(rng.normal(0, 0.01, (2, 40))) for ui in u]
    c, low, high = hierarchical_curvature(x, bent, n_boot=300)
    assert c == pytest.approx(0.03, abs=0.003) and low > 0
    straight = [np.exp(1 - 0.1 * ui) * np.exp(rng.normal(0, 0.01, (2, 40))) for ui in u]
    c, low, high = hierarchical_curvature(x, straight, n_boot=300)
    assert low < 0 < high
    exact = [np.full((1, 3), 2.0 * xi**-0.2) for xi in x]
    assert hierarchical_curvature(x, exact, n_boot=20)[0] == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="at least four sizes"):
        hierarchical_curvature(x[:3], exact[:3])
