"""Chapter 7's sentence triples and covariance distances against direct d×d computations."""

from collections import Counter

import numpy as np
import pytest
from scipy.linalg import sqrtm

from llmgeom.core.geometry import (bures_distance, cosine_distance, covariance_factor, frobenius_distance,
                                   relative_entropy_distance, sentence_distances)
from llmgeom.data.sentences import VERBS, make_triples


def words(sentence):
    return Counter(sentence.rstrip(".").lower().split())


def test_triples_are_well_formed_and_deterministic():
    triples = make_triples(320, seed=0)
    assert len(triples) == 320 and len({t.anchor for t in triples}) == 320
    assert make_triples(320, seed=0) == triples and make_triples(320, seed=1) != triples
    assert Counter(t.transform for t in triples) == {"synonym": 160, "passive": 160}
    for t in triples:
        assert words(t.swap) == words(t.anchor) and t.swap != t.anchor  # same words, different meaning
        past, participle, synonym = VERBS[t.verb]
        if t.transform == "synonym":
            assert t.paraphrase == t.anchor.replace(f" {past} ", f" {synonym} ")
        else:
            assert f"The {t.patient} was {participle} by the {t.agent}" in t.paraphrase
        assert t.agent not in t.unrelated.split() and t.patient not in t.unrelated.split()


def test_too_many_triples_is_a_clear_error():
    with pytest.raises(ValueError, match="n must be between 1 and"):
        make_triples(10**7)


def factors(seed, n_a=7, n_b=9, d=12):
    rng = np.random.default_rng(seed)
    ra, rb = rng.standard_normal((n_a, d)), rng.standard_normal((n_b, d))
    return ra, rb, covariance_factor(ra), covariance_factor(rb)


def test_covariance_factor_gives_the_trace_one_token_covariance():
    ra, _, a, _ = factors(0)
    c = ra - ra.mean(0)
    z = c / np.linalg.norm(c, axis=1, keepdims=True)
    np.testing.assert_allclose(a.T @ a, z.T @ z / len(z), atol=1e-12)
    assert np.trace(a.T @ a) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gram_forms_equal_direct_d_by_d_computations(seed):
    _, _, a, b = factors(seed)
    sa, sb = a.T @ a, b.T @ b
    assert frobenius_distance(a, b) == pytest.approx(np.linalg.norm(sa - sb), rel=1e-9)
    root = sqrtm(sa)
    fidelity = np.trace(sqrtm(root @ sb @ root)).real
    assert bures_distance(a, b) == pytest.approx(np.sqrt(np.trace(sa) + np.trace(sb) - 2 * fidelity), rel=1e-6)
    eps, d = 1e-3, sa.shape[0]
    rho, sigma = (1 - eps) * sa + eps / d * np.eye(d), (1 - eps) * sb + eps / d * np.eye(d)

    def logm(m):
        w, v = np.linalg.eigh(m)
        return (v * np.log(w)) @ v.T

    direct = 0.5 * (np.trace(rho @ (logm(rho) - logm(sigma))) + np.trace(sigma @ (logm(sigma) - logm(rho))))
    assert relative_entropy_distance(a, b, eps) == pytest.approx(direct, rel=1e-8)


def test_distances_vanish_for_the_same_tokens_in_another_order():
    ra, _, _, _ = factors(3)
    shuffled = ra[np.random.default_rng(4).permutation(len(ra))]
    for name, value in sentence_distances(ra, shuffled).items():
        assert value == pytest.approx(0.0, abs=1e-6), name
    assert cosine_distance(ra, 3 * ra) == pytest.approx(0.0, abs=1e-12)


def test_distances_are_positive_for_different_sentences():
    ra, rb, _, _ = factors(5)
    assert all(v > 1e-3 for v in sentence_distances(ra, rb).values())


def test_jaccard_sees_word_overlap_only():
    from llmgeom.core.geometry import jaccard_distance

    assert jaccard_distance([1, 2, 3], [3, 2, 1]) == 0.0  # a role swap: the same tokens
    assert jaccard_distance([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(1 - 2 / 6)
    assert jaccard_distance([1, 1, 2], [2]) == pytest.approx(0.5)  # sets, not counts
    with pytest.raises(ValueError):
        jaccard_distance([], [])
