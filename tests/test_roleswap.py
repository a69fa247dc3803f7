"""Chapter 7's accuracy: ties, subsets and the clustered interval, on constructed distances."""

import numpy as np
import pytest

from llmgeom.data.sentences import make_triples
from llmgeom.experiments.roleswap import triple_accuracy, wins


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
