"""Sign-flip p-values and Holm's correction, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from llmgeom.core.stats import holm, sign_flip_p_value


def test_holm_matches_a_hand_computation():
    # sorted: 0.01 (×4 = 0.04), 0.02 (×3 = 0.06), 0.03 (×2 = 0.06), 0.5 (×1 = 0.5)
    adjusted = holm([0.03, 0.5, 0.01, 0.02])
    np.testing.assert_allclose(adjusted, [0.06, 0.5, 0.04, 0.06])


def test_holm_is_monotone_capped_and_skips_untestable_cells():
    adjusted = holm([0.04, np.nan, 0.045, 0.9])
    # m = 3: 0.04 × 3 = 0.12, 0.045 × 2 = 0.09 → raised to 0.12 (monotone), 0.9 × 1 = 0.9
    np.testing.assert_allclose(adjusted[[0, 2, 3]], [0.12, 0.12, 0.9])
    assert np.isnan(adjusted[1])
    assert holm([0.6, 0.7])[0] == 1.0
    with pytest.raises(ValueError):
        holm([1.2])


def test_a_clear_effect_gets_a_small_p_value():
    rng = np.random.default_rng(0)
    assert sign_flip_p_value(rng.normal(1.0, 1.0, 60), n_resamples=2000) < 0.01


def test_a_zero_effect_gets_a_roughly_uniform_p_value_over_seeds():
    p = np.array([sign_flip_p_value(np.random.default_rng(seed).normal(0.0, 1.0, 40), n_resamples=2000, seed=seed)
                  for seed in range(200)])
    # uniform on (0, 1]: about 5% below 0.05, mean about one half
    assert 0.01 <= (p < 0.05).mean() <= 0.11
    assert 0.4 <= p.mean() <= 0.6
    assert p.min() > 0


def test_sign_flip_p_value_rejects_empty_input():
    with pytest.raises(ValueError, match="no finite"):
        sign_flip_p_value([np.nan])


def test_side_word_reads_which_side_of_the_threshold_the_whole_interval_lies():
    from llmgeom.core.stats import side_word

    words = ("above", "below", "neither")
    assert side_word(0.1, 0.3, *words) == "above"
    assert side_word(-0.3, -0.1, *words) == "below"
    assert side_word(-0.1, 0.1, *words) == "neither"
    assert side_word(0.0, 0.2, *words) == "neither"  # touching the threshold is not above it
    assert side_word(0.3, 0.45, *words, threshold=0.5) == "below"  # chapter 6: below one half is "spread"
    assert side_word(0.55, 0.7, *words, threshold=0.5) == "above"
