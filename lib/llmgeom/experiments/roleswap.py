"""Chapter 7's experiment: does a sentence statistic put a paraphrase closer than a role swap, and closer than an
unrelated sentence?

Derived in chapter 7, "Sentence geometry" (``notebooks/07_sentence_geometry.md``).

Each :class:`llmgeom.data.sentences.Triple` gives an anchor, a paraphrase, a role swap (the same words, agent and
patient exchanged) and an unrelated sentence. :func:`measure_triples` computes, at each chosen layer, every
distance of :data:`llmgeom.core.geometry.DISTANCES` between the anchor and each of the three, plus two baselines: the
cosine distance of the last token's state and the token-id Jaccard distance (no model at all).
:func:`triple_accuracy` is the share of triples whose paraphrase is strictly closer, with an interval that
resamples verb templates (triples built from one template share their words, so they are not independent).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmgeom.core.fit import bootstrap_mean_ci, cluster_bootstrap_mean_ci
from llmgeom.core.geometry import DISTANCES, cosine_distance, distances_between, jaccard_distance, sentence_stats
from llmgeom.data.feeding import text_encoding
from llmgeom.measure.extract import hidden_states
from llmgeom.store.cache import cached_arrays

ROLES = ("paraphrase", "swap", "unrelated")
BASELINES = ("last-token cosine", "token-id Jaccard")
ALL_DISTANCES = tuple(DISTANCES) + BASELINES


def shown_layers(loaded, n: int) -> list[int]:
    """``n`` evenly spaced hidden-state indices from the embeddings (0) to the final state (chapter 7's layers)."""
    return sorted(set(np.linspace(0, loaded.n_layers, n).round().astype(int).tolist()))


def measure_triples(loaded, triples: Sequence, layers: Sequence[int], batch_size: int = 64, use_cache: bool = True
                    ) -> dict:
    """Every distance at every layer between each anchor and its paraphrase, swap and unrelated sentence.

    Returns
    -------
    ``{(layer, distance, role): array [triples]}`` for every distance of :data:`ALL_DISTANCES`. A decoder's first
    text token (its attention sink) is left out of the sentence statistics; an encoder keeps every token. The
    Jaccard baseline does not depend on the layer and is stored under every layer. Cached under the model's
    content, the sentences, the layers and the library.
    """
    sentences = [s for t in triples for s in (t.anchor, t.paraphrase, t.swap, t.unrelated)]
    keys = [(int(layer), dist, role) for layer in layers for dist in ALL_DISTANCES for role in ROLES]
    layers = [int(layer) for layer in layers]

    def compute():
        values = _measure(loaded, triples, sentences, layers, batch_size)
        return {f"v{i}": values[k] for i, k in enumerate(keys)}

    stored = cached_arrays("triples", compute, use_cache, model=loaded.fingerprint, sentences=sentences, layers=layers)
    return {k: stored[f"v{i}"] for i, k in enumerate(keys)}


def _measure(loaded, triples, sentences, layers, batch_size) -> dict:
    states = [r["hidden"] for r in hidden_states(loaded, sentences, layers=list(layers), batch_size=batch_size,
                                                  progress=False)]
    skip = 0 if loaded.is_encoder else 1
    out: dict = {}
    for li, layer in enumerate(layers):
        stats = [sentence_stats(s[li][skip:]) for s in states]
        for i in range(len(triples)):
            for r, role in enumerate(ROLES):
                j = 4 * i + 1 + r
                for dist, value in distances_between(stats[4 * i], stats[j]).items():
                    out.setdefault((layer, dist, role), []).append(value)
                out.setdefault((layer, "last-token cosine", role), []).append(
                    cosine_distance(states[4 * i][li][-1:], states[j][li][-1:]))
    ids = [text_encoding(loaded.tokenizer, sentence) for sentence in sentences]
    for layer in layers:
        for r, role in enumerate(ROLES):
            out[(layer, "token-id Jaccard", role)] = [jaccard_distance(ids[4 * i], ids[4 * i + 1 + r])
                                                      for i in range(len(triples))]
    return {k: np.array(v) for k, v in out.items()}


def wins(d_paraphrase, d_negative) -> np.ndarray:
    """1 where the paraphrase is strictly closer, ½ for an exact tie, 0 otherwise."""
    d_paraphrase, d_negative = np.asarray(d_paraphrase), np.asarray(d_negative)
    return np.where(np.isclose(d_paraphrase, d_negative, rtol=0, atol=1e-12), 0.5,
                    (d_paraphrase < d_negative).astype(float))


def triple_accuracy(values: dict, triples: Sequence, layer: int, distance: str, negative: str = "swap",
                    subset: str | None = None, clustered: bool = True, n_boot: int = 1000, seed: int = 0
                    ) -> tuple[float, float, float]:
    """Share of triples whose paraphrase is closer than the ``negative`` (``"swap"`` or ``"unrelated"``):
    ``(mean, low, high)``, the interval resampling verb templates (default) or single triples.

    ``subset`` keeps the triples of one paraphrase transform (``"synonym"`` or ``"passive"``).
    """
    w = wins(values[(layer, distance, "paraphrase")], values[(layer, distance, negative)])
    verbs = np.array([t.verb for t in triples])
    if subset is not None:
        chosen = np.array([t.transform == subset for t in triples])
        w, verbs = w[chosen], verbs[chosen]
    if clustered:
        return cluster_bootstrap_mean_ci(w, verbs, n_boot=n_boot, seed=seed)
    return bootstrap_mean_ci(w, n_boot=n_boot, seed=seed)


# ------------------------------------------------------------------------------------------------ the verdict

MEAN_DISTANCES = ("cosine of means",)
COVARIANCE_DISTANCES = tuple(d for d in DISTANCES if d not in MEAN_DISTANCES)
"""The claim's two kinds of sentence statistic: the mean embedding, and the token covariances' distances."""


def template_folds(triples: Sequence, seed: int = 0) -> np.ndarray:
    """``[triples]`` 0 or 1: the verb templates split into two halves at random (``seed``), every triple of a
    template in its template's half, so that a layer chosen on one half is judged on templates it never saw."""
    verbs = sorted({t.verb for t in triples})
    order = np.random.default_rng(seed).permutation(len(verbs))
    fold = {verbs[i]: int(rank >= len(verbs) // 2) for rank, i in enumerate(order)}
    return np.array([fold[t.verb] for t in triples])


def cross_validated_wins(values: dict, triples: Sequence, layers: Sequence[int], distance: str,
                         subset: str | None = "synonym", negative: str = "swap", seed: int = 0
                         ) -> tuple[np.ndarray, dict[int, int]]:
    """Each triple's win (:func:`wins`) at the layer chosen on the *other* half of the verb templates
    (:func:`template_folds`), for the triples of ``subset``: ``(wins [chosen triples], {fold: layer chosen for it})``.

    A fold's layer is the one with the highest accuracy on the other fold's triples (ties go to the deeper layer).
    """
    folds = template_folds(triples, seed)
    keep = np.array([subset is None or t.transform == subset for t in triples])
    by_layer = {int(layer): wins(values[(layer, distance, "paraphrase")], values[(layer, distance, negative)])
                for layer in layers}
    out, chosen = np.full(len(triples), np.nan), {}
    for fold in (0, 1):
        train, test = keep & (folds != fold), keep & (folds == fold)
        chosen[fold] = max(by_layer, key=lambda layer: (by_layer[layer][train].mean(), layer))
        out[test] = by_layer[chosen[fold]][test]
    return out[keep], chosen


def cross_validated_accuracy(values: dict, triples: Sequence, layers: Sequence[int], distance: str,
                             subset: str | None = "synonym", negative: str = "swap", n_boot: int = 1000,
                             seed: int = 0) -> tuple[tuple[float, float, float], dict[int, int]]:
    """:func:`cross_validated_wins` averaged: ``((mean, low, high), {fold: layer})``, the interval resampling verb
    templates."""
    won, chosen = cross_validated_wins(values, triples, layers, distance, subset, negative, seed)
    verbs = np.array([t.verb for t in triples if subset is None or t.transform == subset])
    return cluster_bootstrap_mean_ci(won, verbs, n_boot=n_boot, seed=seed), chosen


def c6_verdict(synonym_accuracy: dict[str, tuple[float, float, float]]) -> str:
    """Claim C6's rule for one decoder (stated in the book's protocol): *reproduced* if a covariance distance's
    synonym-only accuracy against the role swap, at the cross-validated layer, has its interval above one half;
    *partly reproduced* if only a mean-embedding distance's does; *not reproduced* otherwise.

    ``synonym_accuracy`` maps each distance of :data:`llmgeom.core.geometry.DISTANCES` to ``(mean, low, high)``
    (:func:`cross_validated_accuracy`); the baselines do not enter the rule.
    """
    unknown = set(synonym_accuracy) - set(DISTANCES)
    if unknown:
        raise ValueError(f"the C6 rule reads the sentence statistics {', '.join(DISTANCES)}; got {sorted(unknown)}")
    above = {d for d, (_, low, _) in synonym_accuracy.items() if low > 0.5}
    if above & set(COVARIANCE_DISTANCES):
        return "reproduced"
    return "partly reproduced" if above & set(MEAN_DISTANCES) else "not reproduced"


def layer_summary(values: dict, triples: Sequence, layers: Sequence[int], distance: str, n_boot: int = 1000,
                  seed: int = 0) -> dict:
    """What chapter 7 reports of one distance on one model, each ``(mean, low, high)`` resampling verb templates:

    * ``"cross-validated"`` — synonym paraphrases against the role swap at the layer chosen on the other half of
      the verb templates (the verdict's cell), with ``"layers"`` the layers chosen for the two halves;
    * ``"synonym"``, ``"passive"`` — each paraphrase kind against the role swap at the final layer;
    * ``"easy"`` — every paraphrase against the unrelated sentence at the final layer;
    * ``"oracle"`` — ``(layer, accuracy)``: the best layer for synonyms chosen on all of them (an upper bound, labelled
      as such).
    """
    last = int(layers[-1])
    cell, chosen = cross_validated_accuracy(values, triples, layers, distance, "synonym", n_boot=n_boot, seed=seed)
    at = {layer: triple_accuracy(values, triples, layer, distance, subset="synonym", n_boot=n_boot, seed=seed)
          for layer in layers}
    best = max(at, key=lambda layer: (at[layer][0], layer))
    return {"cross-validated": cell, "layers": tuple(sorted(set(chosen.values()))), "synonym": at[last],
            "passive": triple_accuracy(values, triples, last, distance, subset="passive", n_boot=n_boot, seed=seed),
            "easy": triple_accuracy(values, triples, last, distance, "unrelated", n_boot=n_boot, seed=seed),
            "oracle": (int(best), at[best][0])}


def pooled_distances(loaded, triples: Sequence, batch_size: int = 64) -> dict[str, np.ndarray]:
    """An encoder's own sentence embedding (mean pooling over every token of its final layer, ``[CLS]`` and
    ``[SEP]`` included, as sentence-transformers does): ``{role: cosine distance to the anchor [triples]}``."""
    sentences = [s for t in triples for s in (t.anchor, t.paraphrase, t.swap, t.unrelated)]
    pooled = [r["hidden"][0].mean(axis=0)[None] for r in hidden_states(loaded, sentences, layers="last",
                                                                      batch_size=batch_size, progress=False)]
    return {role: np.array([cosine_distance(pooled[4 * i], pooled[4 * i + 1 + r]) for i in range(len(triples))])
            for r, role in enumerate(ROLES)}
