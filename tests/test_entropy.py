"""Matrix entropy: closed forms, invariances, the Gram identity, batching and the short-text policy."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgeom.core.entropy import coding_rate, companion_matrix_entropy, matrix_entropy, spectral_entropy, token_spectra
from llmgeom.core.synthetic import power_law_weights, states_with_spectrum


def entropy_of(states, **kw):
    return float(matrix_entropy(states, **kw).entropy[0])


def random_orthogonal(d, rng):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q


@pytest.mark.parametrize("rank", [1, 2, 7, 30])
def test_flat_spectrum_over_r_directions_gives_ln_r(rank):
    states, spectrum = states_with_spectrum(np.ones(rank), n_tokens=2 * rank * 3, width=40, seed=rank)
    np.testing.assert_allclose(spectrum, np.full(rank, 1 / rank))
    assert entropy_of(states) == pytest.approx(math.log(rank), abs=1e-12)


def test_rank_one_tokens_have_zero_entropy():
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(16)
    states = rng.standard_normal(16) + np.outer(rng.standard_normal(12), direction)
    assert entropy_of(states) == pytest.approx(0.0, abs=1e-12)


def test_known_power_law_spectrum_is_recovered():
    states, spectrum = states_with_spectrum(power_law_weights(25, 1.3), n_tokens=400, width=64, seed=3)
    assert entropy_of(states) == pytest.approx(spectral_entropy(spectrum), abs=1e-12)


def test_entropy_is_bounded_by_log_rank_bound():
    rng = np.random.default_rng(1)
    for n, d in [(5, 50), (50, 5), (33, 33)]:
        result = matrix_entropy(rng.standard_normal((n, d)))
        assert 0 <= result.entropy[0] <= math.log(min(n - 1, d)) + 1e-12
        assert 0 <= result.normalized_by_rank_bound[0] <= 1 + 1e-12


def test_invariant_to_rotation_translation_scale_and_token_order():
    rng = np.random.default_rng(2)
    states = rng.standard_normal((20, 12)) * rng.uniform(0.1, 5, size=12)
    h = entropy_of(states)
    q = random_orthogonal(12, rng)
    assert entropy_of(states @ q) == pytest.approx(h, abs=1e-12)
    assert entropy_of(states + rng.standard_normal(12) * 100) == pytest.approx(h, abs=1e-10)
    assert entropy_of(7.5 * states) == pytest.approx(h, abs=1e-12)
    assert entropy_of(states[rng.permutation(20)]) == pytest.approx(h, abs=1e-12)


def test_row_scaling_invariance_holds_after_centring_not_before():
    rng = np.random.default_rng(3)
    states = rng.standard_normal((20, 12))
    centred = states - states.mean(axis=0)
    scales = rng.uniform(0.1, 10, size=(20, 1))
    # uncentred pipeline: each token's norm is discarded exactly
    assert entropy_of(scales * states, center=False) == pytest.approx(entropy_of(states, center=False), abs=1e-12)
    # the companion's pipeline centres first, so rescaling tokens moves the mean and changes H
    assert abs(entropy_of(scales * centred) - entropy_of(centred)) > 1e-3


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=40),
    d=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_gram_route_equals_companion_covariance_route_in_float64(n, d, seed):
    states = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, d)))
    if d == 1:
        # ln d = 0: the companion's metric is undefined at width 1; raw H must be 0 (one direction)
        assert matrix_entropy(states).entropy[0] == pytest.approx(0.0, abs=1e-12)
        return
    assert abs(matrix_entropy(states).normalized[0] - companion_matrix_entropy(states)) <= 1e-10


@pytest.mark.parametrize("n,d", [(8, 64), (64, 8)])
def test_both_sides_of_the_gram_identity_are_used_and_agree(n, d):
    states = torch.randn(3, n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    batched = matrix_entropy(states).normalized
    loop = [companion_matrix_entropy(s) for s in states]
    np.testing.assert_allclose(batched, loop, atol=1e-10)


def test_masked_padded_batch_equals_per_text_loop():
    gen = torch.Generator().manual_seed(4)
    lengths = [17, 3, 30, 9, 2]
    texts = [torch.randn(n, 24, generator=gen) for n in lengths]
    batch = torch.full((len(texts), max(lengths), 24), float("nan"))  # padding content must not matter
    mask = torch.zeros(batch.shape[:2], dtype=torch.bool)
    for i, t in enumerate(texts):
        batch[i, : len(t)] = t
        mask[i, : len(t)] = True
    batched = matrix_entropy(batch, mask)
    for i, t in enumerate(texts):
        single = matrix_entropy(t)
        assert batched.entropy[i] == pytest.approx(single.entropy[0], abs=1e-12)
        assert batched.normalized_by_rank_bound[i] == pytest.approx(single.normalized_by_rank_bound[0], abs=1e-12)
    np.testing.assert_array_equal(batched.n_tokens, lengths)


def numpy_entropy(states) -> float:
    """The definition written out independently: centre, unit rows, eigenvalues of ZᵀZ / N over their sum,
    −Σ λ ln λ."""
    z = states - states.mean(axis=0)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    eig = np.clip(np.linalg.eigvalsh(z.T @ z / len(z)), 0, None)
    eig = eig[eig > 1e-15] / eig.sum()
    return float(-(eig * np.log(eig)).sum())


def test_one_token_texts_are_skipped_and_counted_never_averaged_as_nan():
    # the policy by behaviour, not by the constant: two tokens already have a spectrum (one direction, H = 0),
    # one token or none has not, and every other text gets the entropy of its own valid tokens
    gen = torch.Generator().manual_seed(5)
    lengths = [6, 1, 0, 2, 3, 5]
    batch = torch.randn(len(lengths), 6, 10, generator=gen, dtype=torch.float64)
    mask = torch.arange(6) < torch.tensor(lengths)[:, None]
    result = matrix_entropy(batch, mask)
    np.testing.assert_array_equal(result.valid, [True, False, False, True, True, True])
    np.testing.assert_array_equal(result.n_tokens, lengths)
    assert np.isnan(result.entropy[[1, 2]]).all() and np.isnan(result.normalized_by_rank_bound[[1, 2]]).all()
    assert result.entropy[3] == pytest.approx(0.0, abs=1e-12)
    expected = {i: numpy_entropy(batch[i, :n].numpy()) for i, n in enumerate(lengths) if n >= 2}
    assert expected[4] > 0.1 and expected[0] > expected[4]  # real spectra, not a degenerate case
    for i, h in expected.items():
        assert result.entropy[i] == pytest.approx(h, abs=1e-12), f"text {i} ({lengths[i]} tokens)"
    summary = result.summary()
    assert summary["n_texts"] == 4 and summary["n_skipped"] == 2
    assert summary["entropy"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        matrix_entropy(batch[1:3], mask[1:3]).summary()


def test_non_finite_states_mark_only_their_text_invalid():
    batch = torch.randn(2, 5, 4, dtype=torch.float64)
    batch[1, 2, 0] = float("inf")
    result = matrix_entropy(batch)
    np.testing.assert_array_equal(result.valid, [True, False])
    assert result.entropy[0] == pytest.approx(matrix_entropy(batch[0]).entropy[0])


def test_two_tokens_have_one_direction_and_a_defined_normalised_value():
    result = matrix_entropy(torch.randn(2, 5, dtype=torch.float64))
    assert result.entropy[0] == pytest.approx(0.0, abs=1e-12)
    assert result.normalized_by_rank_bound[0] == 0.0


def test_erank_is_exp_entropy_and_counts_flat_directions():
    states, _ = states_with_spectrum(np.ones(9), n_tokens=36, width=20)
    assert matrix_entropy(states).erank[0] == pytest.approx(9.0, rel=1e-12)


def test_coding_rate_closed_form_flat_spectrum_reaches_its_maximum():
    rank, d = 9, 20  # flat over rank directions, the most that N = 2·rank centred unit tokens allow here
    states, _ = states_with_spectrum(np.ones(rank), n_tokens=2 * rank, width=d)
    spectra = token_spectra(states)
    eps = 0.5
    expected = 0.5 * rank * math.log(1 + d / (rank * eps**2))
    assert coding_rate(spectra, eps, normalize=False)[0] == pytest.approx(expected, rel=1e-12)
    # an un-centred log-det computed directly agrees
    z = torch.nn.functional.normalize(torch.as_tensor(states) - torch.as_tensor(states).mean(0), dim=1)
    logdet = 0.5 * torch.logdet(torch.eye(d, dtype=z.dtype) + d / (len(z) * eps**2) * z.T @ z).item()
    assert coding_rate(spectra, eps, normalize=False)[0] == pytest.approx(logdet, rel=1e-10)


def test_coding_rate_normalised_lies_in_unit_interval_and_rejects_bad_eps():
    spectra = token_spectra(torch.randn(4, 30, 16))
    for eps in (0.01, 0.3, 3.0):
        values = coding_rate(spectra, eps)
        assert ((values > 0) & (values <= 1 + 1e-12)).all()
    with pytest.raises(ValueError, match="eps must be positive"):
        coding_rate(spectra, 0.0)


def test_bad_shapes_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"shape \[N, d\] or \[B, N, d\]"):
        matrix_entropy(torch.randn(3))
    with pytest.raises(ValueError, match="mask must have shape"):
        matrix_entropy(torch.randn(2, 4, 3), torch.ones(2, 5, dtype=torch.bool))


def test_float32_gram_route_is_closer_to_float64_than_the_companion_float32_route():
    rng = np.random.default_rng(6)
    states = rng.standard_normal((64, 1024))
    exact = matrix_entropy(states).normalized[0]
    ours32 = matrix_entropy(states, dtype=torch.float32).normalized[0]
    companion32 = companion_matrix_entropy(torch.tensor(states, dtype=torch.float32))
    assert abs(ours32 - exact) < abs(companion32 - exact)
