"""Every cached or random computation unit of the book, on small real inputs, reduced to one SHA-256 per unit.

Run as a script in a fresh process (``tests/test_reproducible.py`` runs it twice, with different hash seeds and
empty results caches, and requires identical digests). The units are the ones whose results the chapters
cache or draw at random: extraction, entropy, the layer profile, context-token scoring, masked runs, the
passage and prompt samplers, the bootstraps and fits, the synthetic and Gaussian simulations, the sentence
triples and their distances, chapter 4's passage gains and chapter 2's shorter passages read from the longer pass. Inputs are real: held-out Shakespeare, a committed ladder model and SmolLM2.

``python tests/reproducible_units.py`` prints ``{"unit": "sha256", …}`` as JSON on stdout.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings

import numpy as np


def digest(*values) -> str:
    """Bit-exact digest of arrays, lists of arrays, numbers and strings."""
    h = hashlib.sha256()

    def feed(value):
        if isinstance(value, dict):
            for key in sorted(value):
                h.update(str(key).encode())
                feed(value[key])
        elif isinstance(value, list | tuple):
            h.update(b"[")
            for item in value:
                feed(item)
            h.update(b"]")
        elif isinstance(value, str | bytes):
            h.update(value.encode() if isinstance(value, str) else value)
        else:
            array = np.ascontiguousarray(np.asarray(value))
            h.update(str(array.dtype).encode() + str(array.shape).encode())
            h.update(array.tobytes())

    feed(list(values))
    return h.hexdigest()


def units() -> dict[str, str]:
    warnings.simplefilter("ignore")
    from llmgeom.core import fit, gaussian, geometry, lasso, metrics, ridge, synthetic
    from llmgeom.data import planted, sentences
    from llmgeom.experiments import scaling, selection
    from llmgeom.measure import erasure
    import torch

    from llmgeom.core import stats
    from llmgeom.core.entropy import coding_rate, companion_matrix_entropy, matrix_entropy, token_spectra
    from llmgeom.data.corpora import sample_passages
    from llmgeom.data.feeding import text_encoding
    from llmgeom.experiments import spread, tokenselect
    from llmgeom.measure.extract import hidden_states, layer_entropy
    from llmgeom.models.loading import load

    out = {}
    ladder = load("ladder-w128-l3")
    smol = load("smollm2-135m", attentions=True)
    passages = sample_passages("shakespeare", ladder.tokenizer, 8, 64, split="heldout", seed=0)
    out["sample_passages"] = digest([p.text for p in passages])
    texts = [p.text for p in passages]

    entropy = layer_entropy(ladder, texts, layers="all", drop_first_token=True, use_cache=False, progress=False)
    out["layer_entropy"] = digest(entropy.entropy, entropy.n_tokens)
    random = scaling.random_init(ladder, seed=0)
    random_entropy = layer_entropy(random, texts, layers="last", use_cache=False, progress=False)
    out["random_init_layer_entropy"] = digest(random_entropy.entropy)
    out["layer_profile"] = digest(scaling.layer_profile(smol, texts[:4]))
    spectra = scaling.corpus_spectra(ladder, "shakespeare", 4, 48, seed=0)
    out["corpus_spectra"] = digest(spectra)
    from llmgeom.experiments import prediction

    out["passage_decays"] = digest(prediction.passage_decays(spectra["eigenvalues"], spectra["n_tokens"], ladder.width))
    out["isotropic_spectra"] = digest(scaling.isotropic_spectra(ladder.width, 48, 4, seed=0))
    states = hidden_states(smol, texts[:3], layers=[0, 15, -1], attentions=True, progress=False)
    out["hidden_states"] = digest([s["hidden"] for s in states], [s["attentions"] for s in states])

    smol_passages = sample_passages("shakespeare", smol.tokenizer, 6, 14, split="heldout", seed=0)
    ids = [text_encoding(smol.tokenizer, p.text) for p in smol_passages]
    inputs, targets = [i[:-1] for i in ids], [i[-1] for i in ids]
    scores = selection.score_context_tokens(smol, inputs, blocks=[3, 15], use_cache=False)
    out["score_context_tokens"] = digest(scores.lasso_state, scores.lasso_update, scores.attention, scores.sink_mass)
    effects = erasure.erasure_effects(smol, inputs, targets, use_cache=False)
    out["erasure_effects"] = digest(effects)
    keep = [np.stack([erasure.removal_mask(len(i), [1, 2]), erasure.removal_mask(len(i), [len(i) - 2])]) for i in inputs]
    runs = erasure.masked_runs(smol, inputs, targets, keep, use_cache=False)
    out["masked_runs"] = digest(runs.logprob, runs.last_gain, runs.top_id)
    divergence = erasure.erasure_divergence(smol, inputs, [erasure.single_erasure_masks(len(i)) for i in inputs],
                                            use_cache=False)
    out["erasure_divergence"] = digest(divergence.kl, divergence.greedy_drop)
    texts_set = tokenselect.Texts(inputs, targets, ["passage"] * len(inputs), [None] * len(inputs), [None] * len(inputs))
    tables = tokenselect.selector_tables(smol, texts_set, [3, 15], [int(t) for t in targets], use_cache=False)
    out["selector_tables"] = digest({name.replace("×", "x"): tables[name] for name in tokenselect.SELECTORS})
    out["sign_flip_p_value"] = digest(stats.sign_flip_p_value(effects[0], n_resamples=500, seed=0))
    spread_ids = [np.array([*i, t]) for i, t in zip(inputs, targets)]
    spread_texts = spread.SpreadTexts(spread_ids, [1] * len(spread_ids), spread.donor_table([len(i) for i in spread_ids], 2, 0),
                                      ["passage"] * len(spread_ids), [None] * len(spread_ids), list(range(len(spread_ids))))
    removed = spread.spread_experiment(smol, spread_texts, {"recency": [np.arange(len(i) - 2.0) for i in inputs]}, (1, 2))
    out["spread_experiment"] = digest({f"{r} {m} {n} {k}": v for (r, m), e in removed.items() for (n, k), v in e.sets.items()})
    top = spread.top_k_effects(smol, spread_texts, {"recency": [np.arange(len(i) - 2.0) for i in inputs]}, 2)
    out["top_k_effects"] = digest({f"{m} {n} {k}": v for (_, m), e in top.items() for (n, k), v in e.sets.items()})
    out["fact_texts"] = digest([[*c, *a, *b] for c, a, b in spread.fact_texts(smol.tokenizer, "shakespeare", 6, 12, seed=0)])
    picks = [erasure.top_k_positions(e, 2) for e in effects]
    out["position_matched"] = digest(erasure.position_matched(picks, seed=0))
    out["lasso_entry_scores"] = digest(lasso.lasso_entry_scores(states[0]["hidden"][1][1:-1], states[0]["hidden"][1][-1]))
    out["ridge_gains"] = digest(ridge.ridge_gains(ridge.prepare_states(states[0]["hidden"][2]), 0.1))
    table = np.nan_to_num(scores.lasso_update[:, :, :4].mean(axis=2))
    out["cross_validated_best"] = digest(metrics.cross_validated_best(table))

    prompts = [p for task in planted.ALL_TASKS for p in planted.generate_planted(task, 5, seed=0)]
    out["generate_planted"] = digest([repr(p) for p in prompts])
    out["encode_planted"] = digest([list(planted.encode_planted(p, smol.tokenizer).ids) for p in prompts])

    y = entropy.entropy  # [texts, layers] real entropies, read as a table over four "sizes"
    x = np.geomspace(1e4, 1e6, y.shape[1])
    out["fit_power_law"] = digest(fit.fit_power_law(x, y.mean(axis=0)).b, fit.fit_power_law(x, y.mean(axis=0), offset=True).b)
    out["bootstrap_power_law"] = digest(repr(fit.bootstrap_power_law(x, y, n_boot=50, seed=0)))
    out["bootstrap_mean_ci"] = digest(fit.bootstrap_mean_ci(y[:, 0], n_boot=200, seed=0))
    out["bootstrap_exponent_difference"] = digest(repr(fit.bootstrap_exponent_difference(x, y, y[::-1] + 0.1, n_boot=50, seed=0)))
    out["hierarchical_means"] = digest(fit.hierarchical_means({"a": [y[:, :1].T, y[:, 1:3].T]}, n_boot=50, seed=0))
    out["cluster_bootstrap_mean_ci"] = digest(fit.cluster_bootstrap_mean_ci(y[:, 0], np.arange(len(y)) % 3, 200, 0))
    out["bootstrap_ratio_ci"] = digest(repr(fit.bootstrap_ratio_ci(y[:, 0], y[:, 1], n_boot=200, seed=0)))

    synthetic_states, _ = synthetic.states_with_spectrum(synthetic.power_law_weights(20, 1.2), 64, 32, seed=0)
    out["states_with_spectrum"] = digest(synthetic_states)
    batch = torch.as_tensor(np.stack([synthetic_states, synthetic_states[::-1].copy()]), dtype=torch.float32)
    out["matrix_entropy_f32_f64"] = digest(matrix_entropy(batch, dtype=torch.float32).entropy,
                                           matrix_entropy(batch).entropy, companion_matrix_entropy(batch[0]))
    out["coding_rate"] = digest(coding_rate(token_spectra(batch), 0.5))
    cov = gaussian.covariance_with_spectrum(gaussian.power_law_spectrum(16, 1.5), seed=0)
    out["gaussian_simulation"] = digest(cov, gaussian.sample_gaussian(cov, 100, seed=0))

    triples = sentences.make_triples(12, seed=0)
    out["make_triples"] = digest([repr(t) for t in triples])
    first = hidden_states(smol, [triples[0].anchor, triples[0].swap], layers="last", progress=False)
    out["sentence_distances"] = digest(geometry.sentence_distances(first[0]["hidden"][0], first[1]["hidden"][0]))
    from llmgeom.experiments import gains, roleswap

    out["measure_triples"] = digest({"/".join(map(str, k)): v for k, v in
                                     roleswap.measure_triples(ladder, triples[:4], [0, ladder.n_layers]).items()})
    out["passage_gains"] = digest(gains.passage_gains(ladder, "shakespeare", 3, 32, 0.1, seed=0))
    scaling.spectra_and_prefixes(ladder, "shakespeare", 4, 64, (16, 32), seed=0)
    out["spectra_and_prefixes"] = digest(scaling.corpus_spectra(ladder, "shakespeare", 4, 64, seed=0),
                                         scaling.corpus_entropy(ladder, "shakespeare", 4, 16, layers="all").entropy)
    return out


if __name__ == "__main__":
    json.dump(units(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
