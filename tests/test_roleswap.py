"""Chapter 7's accuracy: ties, subsets and the clustered interval, on constructed distances."""

import numpy as np
import pytest

from llmgeom.data.sentences import make_triples
from llmgeom.experiments.roleswap import (c6_verdict, cross_validated_accuracy, cross_validated_wins, template_folds,
                                          triple_accuracy, wins)


def test_a_tie_counts_half_and_only_a_strictly_closer_paraphrase_wins():
    np.testing.assert_array_equal(wins([0.1, 0.5, 0.9], [0.5, 0.5, 0.2]), [1.0, 0.5, 0.0])


def test_accuracy_reads_the_chosen_negative_subset_and_clusters_by_verb():
    triples = make_triples(40, seed=0)
    n = len(triples)
    synonym = np.array([t.transform == "synonym" for t in triples])
    values = {(3, "d", "paraphrase"): np.full(n, 0.2), (3, "d", "swap"): np.where(synonym, 0.5, 0.1),
              (3, "d", "unrelated"): np.full(n, 0.9)}
    assert triple_accuracy(values, triples, 3, "d", "unrelated", n_boot=100)[0] == 1.0
    assert triple_accuracy(values, triples, 3, "d", "swap", n_boot=100)[0] == pytest.approx(synonym.mean())
    assert triple_accuracy(values, triples, 3, "d", "swap", subset="synonym", n_boot=100)[:3] == (1.0, 1.0, 1.0)
    assert triple_accuracy(values, triples, 3, "d", "swap", subset="passive", n_boot=100)[0] == 0.0


def test_the_template_folds_keep_each_verb_whole_and_split_the_verbs_in_half():
    triples = make_triples(320, seed=0)
    folds = template_folds(triples, seed=0)
    by_verb = {}
    for t, f in zip(triples, folds):
        by_verb.setdefault(t.verb, set()).add(int(f))
    assert all(len(f) == 1 for f in by_verb.values())
    assert sorted(sum(f == {k} for f in by_verb.values()) for k in (0, 1)) == [len(by_verb) // 2, len(by_verb) - len(by_verb) // 2]
    assert (template_folds(triples, seed=1) != folds).any()


def test_each_fold_is_judged_at_the_layer_chosen_on_the_other_fold():
    """Layer 1 wins every triple of fold 0 and loses fold 1's; layer 2 the reverse. Chosen on the other fold, each
    fold is judged at the layer that loses it: the cross-validated accuracy is 0, where choosing on the same data
    would give 1."""
    triples = make_triples(80, seed=0)
    folds = template_folds(triples, seed=0)
    n = len(triples)
    values = {(0, "d", "paraphrase"): np.full(n, 0.5), (0, "d", "swap"): np.full(n, 0.5)}
    for layer, winning_fold in ((1, 0), (2, 1)):
        values[(layer, "d", "paraphrase")] = np.where(folds == winning_fold, 0.1, 0.9)
        values[(layer, "d", "swap")] = np.full(n, 0.5)
    won, chosen = cross_validated_wins(values, triples, [0, 1, 2], "d", subset=None)
    assert chosen == {0: 2, 1: 1} and won.tolist() == [0.0] * n
    (mean, low, high), _ = cross_validated_accuracy(values, triples, [0, 1, 2], "d", subset="synonym", n_boot=50)
    assert mean == low == high == 0.0


def test_the_c6_rule_truth_table():
    above, at, below = (0.8, 0.6, 0.95), (0.55, 0.5, 0.6), (0.3, 0.2, 0.4)
    cells = lambda mean, cov: {"cosine of means": mean, "Frobenius": cov, "Bures–Wasserstein": below,
                               "relative entropy": below}
    assert c6_verdict(cells(above, above)) == "reproduced"
    assert c6_verdict(cells(below, above)) == "reproduced"
    assert c6_verdict(cells(above, below)) == "partly reproduced"
    assert c6_verdict(cells(above, at)) == "partly reproduced"  # an interval touching one half is not above it
    assert c6_verdict(cells(at, at)) == "not reproduced"
    assert c6_verdict(cells(below, below)) == "not reproduced"
    with pytest.raises(ValueError, match="sentence statistics"):
        c6_verdict({"token-id Jaccard": above})
