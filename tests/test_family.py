"""The two-level bootstrap (seeds within sizes, then texts) and chapter 2's size law on a family named by
``LLMGEOM_FAMILY``."""

import json

import numpy as np
import pytest
from safetensors import safe_open

from conftest import save_tiny_model
from llmgeom.core.fit import (bootstrap_power_law, fit_power_law, hierarchical_exponent_difference, hierarchical_means,
                              hierarchical_power_law, percentile_interval, power_law_exponents)
from llmgeom.experiments.family import family_from_env, family_from_spec, size_law
from llmgeom.experiments.scaling import null_exponent

X = np.array([1e4, 4e4, 2e5, 1e6])


def test_vectorised_exponents_equal_one_fit_per_row():
    rng = np.random.default_rng(0)
    means = np.exp(rng.normal(0, 0.3, (5, len(X)))) * X**-0.2
    expected = [fit_power_law(X, row).b for row in means]
    np.testing.assert_allclose(power_law_exponents(X, means), expected, rtol=1e-10)


def test_seed_variation_widens_the_interval_that_passages_alone_miss():
    """Texts carry no noise; seeds move each size's level. A passage-only bootstrap sees a zero-width interval;
    the two-level one covers the exponent the seeds scatter around."""
    rng = np.random.default_rng(1)
    truth = 3.0 * X**-0.1
    groups = [np.repeat((t * np.exp(rng.normal(0, 0.05, (3, 1)))), 40, axis=1) for t in truth]
    passage_only = bootstrap_power_law(X, np.stack([g[0] for g in groups], axis=1), n_boot=200)
    with_seeds = hierarchical_power_law(X, groups, n_boot=2000, seed=2)
    assert passage_only.b_high - passage_only.b_low < 1e-12
    assert with_seeds.b_high - with_seeds.b_low > 0.01
    assert with_seeds.b_low <= 0.1 <= with_seeds.b_high


def test_full_data_mean_is_the_mean_over_seeds_of_each_seeds_mean():
    groups = [np.array([[1.0, 3.0], [5.0, 7.0]]), np.array([[2.0, 2.0]])]
    full, draws = hierarchical_means({"y": groups}, n_boot=50)
    np.testing.assert_allclose(full["y"], [4.0, 2.0])
    assert draws["y"].shape == (50, 2)
    np.testing.assert_allclose(draws["y"][:, 1], 2.0)  # one seed, constant texts: nothing to resample


def test_paired_seeds_cancel_in_a_difference():
    """Random copies that share each trained seed's offset: the exponent difference is exact."""
    rng = np.random.default_rng(3)
    offsets = [np.exp(rng.normal(0, 0.1, (2, 1))) * np.exp(rng.normal(0, 0.1, (1, 30))) for _ in X]
    trained = [o * 2.0 * x**-0.15 for o, x in zip(offsets, X)]
    random = [o * 2.0 * x**-0.05 for o, x in zip(offsets, X)]
    difference, low, high = hierarchical_exponent_difference(X, trained, random, n_boot=300)
    assert difference == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)


def test_tables_must_read_the_same_texts():
    with pytest.raises(ValueError, match="same texts"):
        hierarchical_means({"y": [np.ones((1, 5)), np.ones((2, 6))]})


@pytest.fixture(scope="module")
def three_folders(tmp_path_factory):
    return [str(save_tiny_model(tmp_path_factory.mktemp(f"member-w{w}"), context=64, width=w, layers=layers, seed=i))
            for i, (w, layers) in enumerate([(64, 2), (16, 1), (32, 2)])]


def _non_embedding_from_file(folder):
    """Every tensor in the saved weights except the input embedding and the output matrix."""
    with safe_open(f"{folder}/model.safetensors", "pt") as weights:
        return sum(weights.get_tensor(k).numel() for k in weights.keys() if "embed_in" not in k and "embed_out" not in k)


def test_size_law_on_a_family_named_by_the_environment(three_folders, monkeypatch):
    monkeypatch.setenv("LLMGEOM_FAMILY", ",".join(three_folders))
    family = family_from_env()
    widths = [json.loads(open(f"{f}/config.json").read())["hidden_size"] for f in three_folders]
    params = [_non_embedding_from_file(f) for f in three_folders]
    order = np.argsort(params)
    np.testing.assert_array_equal(family.widths, np.array(widths)[order])
    np.testing.assert_array_equal(family.params, np.array(params)[order])
    assert family.n_seeds == [1, 1, 1] and not family.has_logs

    law = size_law(family, ["austen"], n_texts=6, n_tokens=24, n_boot=100)
    fits = law.fit("H/ln d")
    means = law.means("H/ln d")
    assert fits["trained"].fit.b == pytest.approx(fit_power_law(family.params, means).b)
    assert law.null_exponent == pytest.approx(null_exponent(np.array(widths)[order], np.array(params)[order]))
    assert law.capped  # width 32 and 64 exceed N - 1 = 23
    difference, low, high = fits["difference"]
    assert difference == pytest.approx(fits["trained"].fit.b - fits["random"].fit.b)
    # paired: the difference's interval is that of trained − random on the *same* draws (an unpaired bootstrap,
    # or one that resampled the random copies' passages separately, gives another interval)
    paired = percentile_interval(fits["trained"].b_samples - fits["random"].b_samples)
    assert (low, high) == pytest.approx(paired)


def test_a_family_of_one_says_so(tiny_model_dir):
    with pytest.raises(ValueError, match="at least two"):
        family_from_spec(str(tiny_model_dir))


def test_last_layer_law_from_spectra_equals_the_entropy_route(three_folders, monkeypatch):
    """The deciding length reads per-passage spectra (shared with chapter 3); their entropy is the same number
    that the layer-entropy route gives for the last layer."""
    family = family_from_spec(",".join(three_folders[:2]))
    from_spectra = size_law(family, ["austen"], n_texts=5, n_tokens=40, layers="last", n_boot=10)
    from_entropy = size_law(family, ["austen"], n_texts=5, n_tokens=40, layers="all", n_boot=10)
    for metric in ["H", "H/ln d", "eRank"]:
        np.testing.assert_allclose(from_spectra.groups(metric)[1], from_entropy.groups(metric)[1], rtol=1e-5)
        np.testing.assert_allclose(from_spectra.groups(metric, random=True)[0],
                                   from_entropy.groups(metric, random=True)[0], rtol=1e-5)


def test_the_c1_rule_rests_on_both_nulls_then_on_raw_h():
    from llmgeom.experiments.family import C1Verdict

    # (beyond random, beyond isotropic, raw H falls)
    assert C1Verdict(True, True, True).word == "reproduced"
    assert C1Verdict(True, True, False).word == "partly reproduced"
    for beyond_random, beyond_isotropic in [(True, False), (False, True), (False, False)]:
        for raw in (True, False):
            assert C1Verdict(beyond_random, beyond_isotropic, raw).word == "not reproduced"


def test_the_c1_verdict_reads_the_lower_bounds_of_the_size_law(three_folders, monkeypatch):
    from llmgeom.experiments.family import c1_verdict, rate_metric

    monkeypatch.setenv("LLMGEOM_FAMILY", ",".join(three_folders))
    law = size_law(family_from_env(), ["austen"], n_texts=6, n_tokens=24, n_boot=100)
    for normalized, raw in [("H/ln d", "H"), (rate_metric(0.5), rate_metric(0.5, normalize=False))]:
        verdict = c1_verdict(law, normalized, raw)
        assert verdict.beyond_random == (law.fit(normalized)["difference"][1] > 0)
        assert verdict.beyond_isotropic == (law.fit(normalized)["beyond_isotropic"][1] > 0)
        assert verdict.raw_falls == (law.fit(raw)["trained"].b_low > 0)


def test_the_isotropic_null_is_a_direct_simulation_of_noise_normalised_like_states():
    """isotropic_spectra against the plain route: numpy draws, centre, unit rows, the d × d covariance, eigvalsh."""
    from llmgeom.core.entropy import spectral_entropy
    from llmgeom.experiments.scaling import isotropic_spectra

    width, n_tokens, n_texts = 24, 40, 5
    got = isotropic_spectra(width, n_tokens, n_texts, seed=3, batch_size=2)
    rng = np.random.default_rng([3, width, n_tokens])
    for row in got["eigenvalues"][:2]:  # the first batch's passages, drawn in the same order
        x = rng.standard_normal((n_tokens, width), dtype=np.float32).astype(float)
        x -= x.mean(axis=0)
        z = x / np.linalg.norm(x, axis=1, keepdims=True)
        direct = np.linalg.eigvalsh(z.T @ z / n_tokens)[::-1]
        np.testing.assert_allclose(row, direct / direct.sum(), atol=2e-6)
    np.testing.assert_array_equal(got["n_tokens"], n_tokens)
    # noise at N >> d spreads over almost every direction; at N ~ d it falls short of ln d
    long = spectral_entropy(isotropic_spectra(16, 4000, 3)["eigenvalues"]) / np.log(16)
    short = spectral_entropy(isotropic_spectra(16, 20, 3)["eigenvalues"]) / np.log(16)
    assert (long > 0.995).all() and (short < long.min()).all()


def test_the_size_law_compares_every_metric_with_its_isotropic_null(three_folders):
    from llmgeom.experiments.family import rate_metric, spectral_metric
    from llmgeom.experiments.scaling import isotropic_spectra

    family = family_from_spec(",".join(three_folders))
    law = size_law(family, ["austen", "mobydick"], n_texts=5, n_tokens=40, layers="last", n_boot=50)
    for metric in ["H/ln d", "H", rate_metric(0.1), rate_metric(1.0, normalize=False)]:
        groups = law.isotropic_groups(metric)
        for size, group in zip(family.sizes, groups):
            pool = isotropic_spectra(size[0].width, 40, 10, seed=law.seed)  # five passages per corpus, pooled
            np.testing.assert_allclose(group[0], spectral_metric(metric, pool["eigenvalues"], pool["n_tokens"],
                                                                 size[0].width))
        np.testing.assert_allclose(law.isotropic_groups(metric, "mobydick")[0][0], groups[0][0, 5:])
        fits = law.fit(metric)
        difference, low, high = fits["beyond_isotropic"]
        assert difference == pytest.approx(fits["trained"].fit.b - fits["isotropic"].fit.b)
        assert low <= difference <= high
    with pytest.raises(ValueError, match="layers='last'"):
        size_law(family, ["austen"], n_texts=5, n_tokens=40, layers="all", n_boot=10).groups(rate_metric(0.5))


def test_the_coding_rate_metric_is_a_log_det_of_the_passage_states():
    """½ log det(I + d/(N ε²) Zᵀ Z) straight from the normalised states, against the size law's metric from the
    cached spectrum (a spectrum with every eigenvalue different, unlike the flat closed form of test_entropy)."""
    import torch

    from llmgeom.core.entropy import normalize_tokens, token_spectra
    from llmgeom.experiments.family import rate_metric, spectral_metric

    rng = np.random.default_rng(4)
    n_tokens, width = 50, 12
    states = rng.standard_normal((3, n_tokens, width)) * np.linspace(3, 0.2, width)
    spectra = token_spectra(states)
    for eps in (0.1, 0.5, 1.0):
        got = spectral_metric(rate_metric(eps, normalize=False), spectra.eigenvalues, spectra.n_tokens, width)
        z = normalize_tokens(torch.as_tensor(states))
        direct = [0.5 * torch.logdet(torch.eye(width, dtype=z.dtype) + width / (n_tokens * eps**2) * zi.T @ zi).item()
                  for zi in z]
        np.testing.assert_allclose(got, direct, rtol=1e-10)
        normalised = spectral_metric(rate_metric(eps), spectra.eigenvalues, spectra.n_tokens, width)
        np.testing.assert_allclose(normalised, got / (0.5 * width * np.log1p(1 / eps**2)), rtol=1e-12)


def test_random_init_is_the_training_initialisation_of_every_committed_rung():
    """chapter 2's trained-minus-random control: the untrained copy is, tensor for tensor, the model training
    started from (the reloaded config differs from the training one only in its dtype and name fields)."""
    import torch
    from transformers import GPTNeoXForCausalLM

    from llmgeom.experiments.scaling import random_init
    from llmgeom.models.ladder import ALL_MODELS, gpt_neox_config
    from llmgeom.models.loading import load
    from llmgeom.models.registry import ladder_models

    committed = ladder_models(everything=True)
    checked = 0
    for size in ALL_MODELS:
        if f"ladder-{size.name}" not in committed or size.budget != 1:
            continue
        loaded = load(f"ladder-{size.name}")
        torch.manual_seed(size.seed)  # exactly as llmgeom.models.training.train_size builds it
        reference = GPTNeoXForCausalLM(gpt_neox_config(size, len(loaded.tokenizer), loaded.tokenizer.eos_token_id))
        untrained = random_init(loaded, seed=size.seed).model.state_dict()
        assert reference.state_dict().keys() == untrained.keys()
        for name, tensor in reference.state_dict().items():
            assert torch.equal(tensor, untrained[name]), f"{size.name}: {name} differs"
        checked += 1
    assert checked >= 7  # every size of the ladder, at least one seed each


def test_the_ladder_family_knows_each_sizes_regime():
    from llmgeom.experiments.family import ladder_family

    family = ladder_family()
    logs = [size[0].log for size in family.sizes]
    np.testing.assert_array_equal(family.depths, [log["depth"] for log in logs])
    np.testing.assert_allclose(family.tokens_per_parameter,
                               [log["tokens_seen"] / log["non_embedding_params"] for log in logs])
    assert (np.diff(family.tokens_per_parameter) < 0).all()  # one token budget: the larger, the fewer per parameter


def test_the_shorter_lengths_from_the_deciding_pass_equal_their_own_passes(three_folders, isolated_cache, monkeypatch):
    """size_law(..., prefixes=...) caches the shorter passages' every-layer entropies from the longer pass (their
    prefixes); the later shorter laws then compute nothing and agree with passes of their own."""
    from llmgeom.store.cache import empty_results_cache

    family = family_from_spec(",".join(three_folders[:2]))
    size_law(family, ["austen"], n_texts=6, n_tokens=48, layers="last", n_boot=10, prefixes=(16, 24))
    before = set((isolated_cache / "results").rglob("*.npz"))
    shared = {n: size_law(family, ["austen"], n_texts=6, n_tokens=n, layers="all", n_boot=10) for n in (16, 24)}
    assert set((isolated_cache / "results").rglob("*.npz")) == before, "the shorter laws were served from the cache"
    monkeypatch.setenv("LLMGEOM_CACHE", str(empty_results_cache(isolated_cache.parent / "own")))
    for n, law in shared.items():
        own = size_law(family, ["austen"], n_texts=6, n_tokens=n, layers="all", n_boot=10)
        for random in (False, True):
            for key, result in (own.random if random else own.trained).items():
                np.testing.assert_allclose((law.random if random else law.trained)[key].entropy, result.entropy,
                                           rtol=1e-5)
