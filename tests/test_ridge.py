"""The ridge identity of chapter 4: log-det increments = optimal ridge objectives, and the chain rule."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgeom.core.ridge import prepare_states, ridge_gains, ridge_information_gain, ridge_objective, total_information


def states(t, d, seed=0):
    return prepare_states(np.random.default_rng(seed).standard_normal((t + 1, d)))


@settings(max_examples=40, deadline=None)
@given(t=st.integers(2, 40), d=st.integers(2, 60), log_sigma2=st.floats(-3, 1), seed=st.integers(0, 10_000))
def test_cholesky_gains_equal_ridge_objective_gains(t, d, log_sigma2, seed):
    h = states(t, d, seed)
    sigma2 = 10.0**log_sigma2
    gains = ridge_gains(h, sigma2)
    for i in range(len(h)):
        direct = ridge_information_gain(h, i, sigma2)
        assert abs(gains[i] - direct) <= 1e-8 * max(abs(direct), 1e-12)


def test_chain_rule_sum_of_gains_is_the_whole_log_det():
    h = states(50, 32, seed=1)
    for sigma2 in (0.01, 0.1, 1.0):
        assert ridge_gains(h, sigma2).sum() == pytest.approx(total_information(h, sigma2), rel=1e-10)


def test_ridge_objective_matches_scikit_learn_ridge():
    from sklearn.linear_model import Ridge

    h = states(20, 48, seed=2)
    sigma2, t = 0.05, 15
    model = Ridge(alpha=sigma2, fit_intercept=False, solver="cholesky").fit(h[:t].T, h[t])
    residual = h[t] - h[:t].T @ model.coef_
    objective = residual @ residual + sigma2 * model.coef_ @ model.coef_
    assert objective == pytest.approx(ridge_objective(h, t, sigma2), rel=1e-8)


def test_a_repeated_token_carries_almost_no_new_information():
    h = states(10, 16, seed=3)
    h = np.vstack([h, h[4]])
    gains = ridge_gains(h, 1e-4)
    # β = indicator of the earlier copy gives objective σ², so r_t ≤ σ² and IG_t ≤ ½ log 2
    assert gains[-1] <= 0.5 * np.log(2) + 1e-12
    assert gains[-1] < 0.2 * gains[:-1].min()


def test_preparation_drops_token_zero_normalises_and_rejects_bad_input():
    raw = np.random.default_rng(4).standard_normal((5, 3)) * 10
    h = prepare_states(raw)
    assert h.shape == (4, 3) and np.allclose(np.linalg.norm(h, axis=1), 1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        prepare_states(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="no tokens left"):
        prepare_states(np.ones((1, 3)))
    with pytest.raises(ValueError, match="noise_variance must be positive"):
        ridge_gains(h, 0)


def test_the_cholesky_gains_are_scikit_learns_ridge_regression():
    from llmgeom.core.ridge import ridge_identity_errors

    states = prepare_states(np.random.default_rng(0).normal(size=(40, 24)), drop_first=False)
    errors = ridge_identity_errors(states, 0.1, step=3)
    assert len(errors) == len(range(1, 40, 3)) and errors.max() < 1e-8
