"""Chapter 6's experiment (claim C5): what share of the context's information the top-ranked tokens carry.

A text here is a *context* followed by ``m`` *target* tokens (the next ``m`` tokens of a passage, or the answer of a
planted prompt, or of a fact planted in a natural passage). Tokens are removed from the context only, never token 0 (the sink) nor the context's last token
(the query) nor a target. Two removal methods, :data:`REMOVALS`:

* ``masking`` — the removed tokens are zeroed in the attention mask (:mod:`llmgeom.measure.erasure`); every other token
  keeps its position, and the model sees gaps it never saw in training;
* ``resampling`` — the removed tokens are replaced by the tokens at the same positions of another text of the same
  length (a *donor*; for planted prompts one of the same task), and the effect is averaged over the donors: resample
  ablation, the standard way to stay near the training distribution.

Two measures, :data:`MEASURES`, both read from one forward pass per variant:

* ``loss`` — the increase of the mean next-token loss over the ``m`` targets;
* ``kl`` — KL(full ‖ removed) of the next-token distribution before the first target.

A removal's *share* is its mean effect over the texts divided by the mean effect of removing every context token
(a ratio of means, :func:`llmgeom.core.fit.bootstrap_ratio_ci`). The *oracle* removes the tokens with the largest
single-token effects. Chosen and evaluated on the same measurement it is biased upward (the largest of many noisy
effects, a winner's curse); the *cross-fitted* oracle chooses on one measurement and evaluates on an independent
one: for resampling, it chooses on the other donors and evaluates on each donor in turn; for masking, which has no
replicate, it chooses by resampling and evaluates by masking (:func:`naive_oracle`, :func:`cross_fitted_oracle`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from llmgeom.core.fit import bootstrap_ratio_ci
from llmgeom.data.corpora import sample_passages
from llmgeom.data.feeding import text_encoding
from llmgeom.data.planted import OBJECTS, PLACES, encode_planted, generate_planted
from llmgeom.experiments.selectors import (CONTENT_WORDS, GRADIENT_X_INPUT, HEAD_MEAN, ID_MATCH, LASSO_STATE,
                                           LASSO_UPDATE, RANDOM, RECENCY, ROLLOUT)
from llmgeom.experiments.selection import score_context_tokens
from llmgeom.experiments.tokenselect import Texts, chosen_options, selector_tables, top_predictions
from llmgeom.measure.erasure import top_k_positions
from llmgeom.models.forward import variant_logits
from llmgeom.store.cache import cached_arrays

REMOVALS = ("masking", "resampling")
MEASURES = ("loss", "kl")
SELECTORS = (LASSO_STATE, LASSO_UPDATE, HEAD_MEAN, ROLLOUT, GRADIENT_X_INPUT,
             ID_MATCH, CONTENT_WORDS, RECENCY, RANDOM)
"""The selectors chapter 6 removes tokens by: chapter 5's (each at the block and head chosen on chapter 5's planted
prompts, :func:`llmgeom.experiments.tokenselect.chosen_options`) and content words (in a random order), before the
oracles."""
MEANINGFUL = (LASSO_STATE, HEAD_MEAN, CONTENT_WORDS)
"""The selectors the paper's literal reading is about: its regression, attention, and meaning itself."""
ORACLES = ("oracle (naive)", "oracle (cross-fitted)")


# ------------------------------------------------------------------------------------------------ the removals


def resampled(ids, remove, donor) -> np.ndarray:
    """``ids`` with the positions ``remove`` replaced by ``donor``'s tokens at the same positions; ``[n]``."""
    ids, donor = np.asarray(ids, dtype=np.int64), np.asarray(donor, dtype=np.int64)
    if ids.shape != donor.shape:
        raise ValueError(f"a donor must have as many tokens as the text ({len(ids)}); it has {len(donor)}")
    out = ids.copy()
    out[np.asarray(remove, dtype=int)] = donor[np.asarray(remove, dtype=int)]
    return out


def donor_table(groups: Sequence, n_donors: int, seed: int = 0) -> list[list[int]]:
    """For every text, ``n_donors`` other texts of the same group (e.g. the same length and task), or ``[]`` where
    its group is too small. Within a group the texts are put in a random cycle and each takes the next
    ``n_donors``: deterministic, never itself, and every text is a donor as often as it receives."""
    rng = np.random.default_rng(seed)
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out: list[list[int]] = [[] for _ in groups]
    for g in sorted(members, key=str):
        cycle = [members[g][j] for j in rng.permutation(len(members[g]))]
        if len(cycle) <= n_donors:
            continue
        for j, i in enumerate(cycle):
            out[i] = [cycle[(j + d) % len(cycle)] for d in range(1, n_donors + 1)]
    return out


@dataclass
class Runs:
    """Per text, one value per variant row (row 0 is the full context): ``loss[i]`` ``[V_i]`` the mean loss over
    the targets, ``kl[i]`` ``[V_i]`` KL(row 0 ‖ row) before the first target (0 for row 0)."""

    loss: list[np.ndarray]
    kl: list[np.ndarray]


@torch.no_grad()
def continuation_runs(loaded, variants: Sequence[np.ndarray], keep: Sequence[np.ndarray], n_targets: Sequence[int],
                      batch_size: int = 64, use_cache: bool = True, progress: bool | None = None) -> Runs:
    """Run every variant of every text and measure the loss over its last ``n_targets`` tokens and the KL.

    ``variants[i]`` is an int ``[V_i, n_i]`` array of text ids (row 0 the unaltered text, context then targets) and
    ``keep[i]`` a bool ``[V_i, n_i]`` attention mask; the model reads its BOS, where it has one, then all but the
    last token. Every text's row 0 runs first (the KL needs it), keeping its keys and values; every other row runs
    from its first changed position on (:func:`llmgeom.models.forward.variant_logits`), in batches across texts of one
    length and target count, unpadded. Cached under the model's content, the inputs and the library.
    """
    if loaded.is_encoder:
        raise ValueError(f"{loaded.name} is an encoder; removing context tokens needs a causal language model")
    if not len(variants) == len(keep) == len(n_targets):
        raise ValueError("variants, keep and n_targets need one entry per text")
    variants = [np.atleast_2d(np.asarray(v, dtype=np.int64)) for v in variants]
    keep = [np.atleast_2d(np.asarray(k, dtype=bool)) for k in keep]
    for v, k, m in zip(variants, keep, n_targets):
        tail = slice(len(v[0]) - m - 1, None)  # the query and the targets: the same in every row
        if v.shape != k.shape or not 1 <= m < v.shape[1] - 1:
            raise ValueError("each text needs [V, n] ids and masks of one shape and 1 ≤ n_targets < n − 1")
        if not (k[:, 0].all() and k[:, tail].all() and (v[:, tail] == v[0, tail]).all() and k[0].all()):
            raise ValueError("row 0 must be the full text, and no row may remove token 0, the query or a target")
    inputs = hashlib.sha256(b"".join(v.tobytes() + np.packbits(k).tobytes() + str(v.shape).encode()
                                     for v, k in zip(variants, keep))).hexdigest()
    split = np.cumsum([len(v) for v in variants])[:-1]

    def compute():
        losses = [np.zeros(len(v)) for v in variants]
        kls = [np.zeros(len(v)) for v in variants]
        for m in sorted(set(n_targets)):
            texts = [t for t in range(len(variants)) if n_targets[t] == m]
            # row 0 of a text comes before its other rows, in both of variant_logits's paths: the KL needs it first
            rows = [(t, variants[t][row, :-1], keep[t][row, :-1]) for t in texts for row in range(len(variants[t]))]
            reference = {}  # text → its full context's next-token log-probabilities before the first target

            def reduce(logits, indices, m=m, rows=rows, reference=reference):
                log_p = torch.log_softmax(logits, dim=-1)
                targets = torch.from_numpy(np.stack([variants[rows[i][0]][0, -m:] for i in indices])).to(log_p.device)
                nll = -log_p.gather(-1, targets[..., None])[..., 0].mean(dim=1).double().cpu()
                first = log_p[:, 0].double()
                out = []
                for j, i in enumerate(indices):
                    t = rows[i][0]
                    if t not in reference:
                        reference[t] = first[j]
                    ref = reference[t]
                    out.append((float(nll[j]), float((ref.exp() * (ref - first[j])).sum().clamp_min(0))))
                return out

            values = variant_logits(loaded, [variants[t][0, :-1] for t in range(len(variants))], rows, m, reduce,
                                    batch_size, progress=progress, desc=f"removals {loaded.name}")
            for (t, _, _), (nll, kl), row in zip(rows, values, [r for t in texts for r in range(len(variants[t]))]):
                losses[t][row], kls[t][row] = nll, (0.0 if row == 0 else kl)
        return {"loss": np.concatenate(losses), "kl": np.concatenate(kls)}

    columns = cached_arrays("continuation_runs", compute, use_cache, model=loaded.fingerprint,
                            targets=list(map(int, n_targets)), inputs=inputs)
    return Runs(np.split(columns["loss"], split), np.split(columns["kl"], split))


class _Rows:
    """The distinct variants of one text, each added once (``add`` returns the row that holds a variant), and the
    loss and KL of every row measured so far."""

    def __init__(self, ids):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.rows = {}
        self.loss, self.kl = [], []
        self.add(self.ids, np.ones(len(self.ids), bool))

    def add(self, ids, keep) -> int:
        return self.rows.setdefault((np.asarray(ids).tobytes(), np.asarray(keep).tobytes()), (len(self.rows), ids, keep))[0]

    def removal(self, remove, donor=None) -> int:
        """The row that removes ``remove`` by masking (``donor=None``) or by resampling from ``donor``'s ids."""
        if donor is None:
            keep = np.ones(len(self.ids), bool)
            keep[np.asarray(remove, dtype=int)] = False
            return self.add(self.ids, keep)
        return self.add(resampled(self.ids, remove, donor), np.ones(len(self.ids), bool))

    def pending(self):
        """Row 0 (the reference) and every row not measured yet, as ``[V, n]`` ids and masks."""
        ordered = sorted(self.rows.values(), key=lambda r: r[0])
        todo = ordered[:1] + ordered[max(1, len(self.loss)):]
        return np.stack([r[1] for r in todo]), np.stack([r[2] for r in todo])

    def effect(self, measure: str, rows) -> float:
        """The mean effect of the given rows: loss increase over row 0, or KL from row 0."""
        values = np.asarray(self.loss) - self.loss[0] if measure == "loss" else np.asarray(self.kl)
        return float(np.mean(values[np.atleast_1d(rows)]))


# ------------------------------------------------------------------------------------------------ the texts


@dataclass
class SpreadTexts:
    """Texts for chapter 6: ``ids[i]`` context then ``n_targets[i]`` targets; ``donors[i]`` the texts whose tokens
    replace removed ones (``[]``: resampling unavailable); ``bearing[i]`` (planted prompts) the answer-bearing
    candidates, a bool array over context positions ``1 .. n_context − 2``, or ``None``; ``source[i]`` where text
    ``i`` came from (the index of chapter 5's passage, or of the prompt among those the model answers)."""

    ids: list[np.ndarray]
    n_targets: list[int]
    donors: list[list[int]]
    kind: list[str]
    bearing: list[np.ndarray | None] = field(default_factory=list)
    source: list[int] = field(default_factory=list)
    pool: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def donor_ids(self, i: int) -> list[np.ndarray]:
        """The ids of text ``i``'s donors: other texts, or where ``pool`` is set, passages of that pool."""
        return [(self.ids if self.pool is None else self.pool)[d] for d in self.donors[i]]

    def n_candidates(self, i: int) -> int:
        return len(self.ids[i]) - self.n_targets[i] - 2


def passage_spread_texts(loaded, scored, corpus: str, n_texts: int, n_targets: int, n_donors: int = 2,
                         seed: int = 0) -> SpreadTexts:
    """The first ``n_texts`` of chapter 5's passages ``scored`` (:func:`llmgeom.experiments.tokenselect.passage_texts`
    with this corpus and seed), each with the ``n_targets`` tokens that follow its context. Passages are drawn again
    at the longer length from the same starts; the few whose cut then moves (a merge across the cut sends
    :func:`llmgeom.data.corpora.sample_passages` to the next line) are left out, and ``source[i]`` is the index in
    ``scored`` of passage ``i``. Donors are the other passages (all have one length; fewer than ``n_donors``
    where there are not that many others)."""
    n_input = len(scored.ids[0])
    passages = sample_passages(corpus, loaded.tokenizer, n_texts, n_input + n_targets, seed=seed)
    ids, source = [], []
    for t, p in enumerate(passages):
        encoded = text_encoding(loaded.tokenizer, p.text)
        if encoded[: n_input + 1] == [*scored.ids[t], scored.targets[t]]:
            ids.append(np.array(encoded, dtype=np.int64))
            source.append(t)
    return SpreadTexts(ids, [n_targets] * len(ids), donor_table([len(i) for i in ids], min(n_donors, len(ids) - 1), seed),
                       ["passage"] * len(ids), [None] * len(ids), source)


def planted_spread_texts(loaded, tasks: Sequence[str], n_per_task: int, n_donors: int = 2, seed: int = 0
                         ) -> SpreadTexts:
    """The planted prompts the model answers (its top prediction is the answer's first token), each followed by
    every token of its answer; donors are prompts of the same task and length. Prompts without a donor group or
    without a removable answer-bearing token are left out."""
    prompts = [encode_planted(p, loaded.tokenizer) for task in tasks for p in generate_planted(task, n_per_task, seed=seed)]
    top = top_predictions(loaded, Texts([p.ids for p in prompts], [p.answer_id for p in prompts],
                                        [p.prompt.task for p in prompts]))
    prompts = [p for p, t in zip(prompts, top) if t == p.answer_id and p.answer_bearing[1:-1].any()]
    ids = [np.array(p.ids + list(p.answer_ids), dtype=np.int64) for p in prompts]
    donors = donor_table([(p.prompt.task, len(i)) for p, i in zip(prompts, ids)], n_donors, seed)
    kept = [i for i, d in enumerate(donors) if d]
    index = {old: new for new, old in enumerate(kept)}
    return SpreadTexts([ids[i] for i in kept], [len(prompts[i].answer_ids) for i in kept],
                       [[index[d] for d in donors[i]] for i in kept], [prompts[i].prompt.task for i in kept],
                       [prompts[i].answer_bearing[1:-1] for i in kept], kept)


FACT, QUERY = "The {} is in the {}.", " The {} is in the"
"""The natural-text control's fact sentence (object, place), planted before a passage, and its question after it."""


def fact_texts(tokenizer, corpus: str, n_texts: int, n_passage: int, seed: int = 0
               ) -> list[tuple[list[int], list[int], np.ndarray]]:
    """``(context, answer, bearing)`` per passage: the ids of the fact, a held-out passage of ``n_passage`` tokens
    and the question; the answer's ids; and the answer-bearing candidates (the place's tokens in the fact) as a bool
    array over context positions ``1 .. n − 2``. Objects and places are drawn with ``seed``, the passages with
    ``seed + 1``; a passage whose fact does not hold the answer's tokens as they are (a merge) is left out."""
    rng = np.random.default_rng(seed)
    out = []
    for p in sample_passages(corpus, tokenizer, n_texts, n_passage, seed=seed + 1):
        obj, place = OBJECTS[rng.integers(len(OBJECTS))], PLACES[rng.integers(len(PLACES))]
        fact, answer = text_encoding(tokenizer, FACT.format(obj, place)), text_encoding(tokenizer, " " + place)
        at = [j for j in range(1, len(fact) - len(answer) + 1) if fact[j: j + len(answer)] == answer]
        if at:
            context = fact + text_encoding(tokenizer, p.text) + text_encoding(tokenizer, QUERY.format(obj))
            bearing = np.zeros(len(context) - 2, bool)
            bearing[at[0] - 1: at[0] - 1 + len(answer)] = True
            out.append((context, answer, bearing))
    return out


def fact_control_texts(loaded, corpus: str, n_texts: int, n_passage: int, n_donors: int, seed: int = 0
                       ) -> SpreadTexts:
    """The natural-text control (:func:`fact_texts`) on the texts the model answers (its top prediction is the
    answer's first token), each followed by its answer's tokens. Donors are other held-out passages of the text's
    length (``pool``; drawn with ``seed + 2``), so a removed token is replaced by ordinary text, never by a
    competing answer."""
    tok = loaded.tokenizer
    texts = fact_texts(tok, corpus, n_texts, n_passage, seed)
    if not texts:
        return SpreadTexts([], [], [], [], [], [], [])
    top = top_predictions(loaded, Texts([c for c, _, _ in texts], [a[0] for _, a, _ in texts], ["fact"] * len(texts)))
    texts = [x for x, t in zip(texts, top) if t == x[1][0]]
    ids = [np.array(c + a, dtype=np.int64) for c, a, _ in texts]
    pool, donors = [], []
    for length in sorted({len(i) for i in ids}):
        members = [t for t, i in enumerate(ids) if len(i) == length]
        drawn = [np.array(text_encoding(tok, q.text), dtype=np.int64)
                 for q in sample_passages(corpus, tok, len(members) + n_donors, length, seed=seed + 2)]
        drawn = [d for d in drawn if len(d) == length]
        start = len(pool)
        pool += drawn
        for j, t in enumerate(members):
            donors.append((t, [start + (j + d) % len(drawn) for d in range(min(n_donors, len(drawn)))]))
    donors = [d for _, d in sorted(donors)]
    return SpreadTexts(ids, [len(a) for _, a, _ in texts], donors, ["fact"] * len(ids), [b for _, _, b in texts],
                       list(range(len(ids))), pool)


# ------------------------------------------------------------------------------------------------ the oracles


def naive_oracle(choose_and_evaluate: np.ndarray) -> np.ndarray:
    """``[T, D, M]`` single-token effects (per text, donor or replicate, candidate) → ``[T]``: the largest
    donor-mean effect — chosen and evaluated on the same measurement, so biased upward."""
    return np.nanmax(np.nanmean(choose_and_evaluate, axis=1), axis=1)


def cross_fitted_oracle(by_donor: np.ndarray, evaluate: np.ndarray | None = None) -> np.ndarray:
    """``[T, D, M]`` → ``[T]``: the oracle token chosen on one measurement and evaluated on an independent one.

    Without ``evaluate``: for each donor ``d``, the token with the largest mean effect over the *other* donors,
    evaluated on donor ``d``; averaged over ``d`` (needs ``D ≥ 2``). With ``evaluate`` ``[T, M]`` (e.g. masking):
    the token with the largest donor-mean effect in ``by_donor``, evaluated in ``evaluate``.
    """
    by_donor = np.asarray(by_donor, dtype=float)
    rows = np.arange(len(by_donor))
    if evaluate is not None:
        return np.asarray(evaluate, dtype=float)[rows, _argmax(np.nanmean(by_donor, axis=1))]
    n_donors = by_donor.shape[1]
    if n_donors < 2:
        raise ValueError("a cross-fitted oracle needs at least two donors (choose on one, evaluate on another)")
    values = []
    for d in range(n_donors):
        others = np.nanmean(np.delete(by_donor, d, axis=1), axis=1)
        values.append(by_donor[rows, d, _argmax(others)])
    return np.mean(values, axis=0)


def _argmax(table: np.ndarray) -> np.ndarray:
    return np.nanargmax(np.where(np.isnan(table), -np.inf, table), axis=1)


def oracle_choices(by_donor: np.ndarray, k: int) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """The positions the oracles remove at ``k`` tokens, from ``[T, D, M]`` single-token effects: the top ``k``
    by donor mean (naive; also the cross-fitted choice for masking), and for each donor ``d`` the top ``k`` by the
    mean over the other donors (cross-fitted resampling; empty with one donor)."""
    naive, cross = [], []
    for effects in by_donor:
        m = int(np.sum(np.isfinite(effects[0])))
        naive.append(top_k_positions(np.nanmean(effects, axis=0)[:m], k))
        cross.append([top_k_positions(np.nanmean(np.delete(effects, d, axis=0), axis=0)[:m], k)
                      for d in range(len(effects))] if len(effects) > 1 else [])
    return naive, cross


# ------------------------------------------------------------------------------------------------ the experiment


@dataclass
class Effects:
    """One removal method × one measure: per text the effect of removing every context token (``full`` ``[T]``),
    of each single token (``single`` ``[T, D, M]``, NaN-padded; masking has ``D = 1``), and of each removal set
    (``sets[name, k]`` ``[T]``: a selector's top ``k``, or an oracle's)."""

    full: np.ndarray
    single: np.ndarray
    sets: dict

    def share(self, name: str, k: int, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95):
        """``(share, low, high)``: the set's mean effect over the mean effect of removing the whole context."""
        return bootstrap_ratio_ci(self.sets[name, k], self.full, n_boot, seed, confidence)


def spread_experiment(loaded, texts: SpreadTexts, rankings: dict[str, list[np.ndarray]] | None = None,
                      k_values: Sequence[int] = (1, 4), control: bool = False, seed: int = 0,
                      set_donors: int | None = None) -> dict:
    """Both removal methods × both measures on ``texts``: ``{(removal, measure): Effects}``.

    ``rankings[selector][t]`` scores text ``t``'s candidates (higher is removed first); every selector's top ``k``
    is removed for each ``k`` in ``k_values``, and so are both oracles'. With ``control=True`` (planted prompts)
    the sets are instead ``answer-bearing`` (every answer-bearing candidate) and ``random`` (as many random
    candidates), at ``k = 0``, and no single token is removed (no oracle). Every text needs donors. Single tokens
    and the whole context are resampled from every donor (the oracles' choices need them); the sets of ``k > 1``
    tokens from the first ``set_donors`` (``None``: every donor).
    """
    rankings = rankings or {}
    rng = np.random.default_rng(seed)
    rows, plan = [], []
    for t, ids in enumerate(texts.ids):
        if not texts.donors[t]:
            raise ValueError(f"text {t} has no donor to resample from")
        r = _Rows(ids)
        candidates = np.arange(1, texts.n_candidates(t) + 1)
        donors = texts.donor_ids(t)

        def both(remove, donors=donors):
            return {"masking": [r.removal(remove)], "resampling": [r.removal(remove, d) for d in donors]}

        entry = {"full": both(candidates), "single": [] if control else [both([j]) for j in candidates], "sets": {}}
        if control:
            bearing = candidates[texts.bearing[t]]
            entry["sets"]["answer-bearing", 0] = both(bearing)
            entry["sets"][RANDOM, 0] = both(np.sort(rng.choice(candidates[~texts.bearing[t]] if (~texts.bearing[t]).sum()
                                                                 >= len(bearing) else candidates, len(bearing), replace=False)))
        for selector, scores in rankings.items():
            for k in k_values:
                if k > 1:
                    entry["sets"][selector, k] = both(top_k_positions(scores[t][: len(candidates)], k),
                                                      donors[:set_donors])
        rows.append(r)
        plan.append(entry)
    _run(loaded, texts, rows)
    out = {}
    for removal in REMOVALS:
        for measure in MEASURES:
            width = max(1, max(len(p["single"]) for p in plan))
            depth = max(len(d) for d in texts.donors) if removal == "resampling" else 1
            single = np.full((len(plan), depth, width), np.nan)
            for t, p in enumerate(plan):
                for j, s in enumerate(p["single"]):
                    single[t, : len(s[removal]), j] = [rows[t].effect(measure, row) for row in s[removal]]
            full = np.array([rows[t].effect(measure, p["full"][removal]) for t, p in enumerate(plan)])
            sets = {key: np.array([rows[t].effect(measure, p["sets"][key][removal]) for t, p in enumerate(plan)])
                    for key in plan[0]["sets"]}
            if 1 in k_values:  # a selector's top token: its single-token run
                for selector, scores in rankings.items():
                    top = [top_k_positions(scores[t][: single.shape[2]], 1)[0] - 1 for t in range(len(plan))]
                    sets[selector, 1] = np.nanmean(single[np.arange(len(plan)), :, top], axis=1)
            out[removal, measure] = Effects(full, single, sets)
    if control:
        return out
    for measure in MEASURES:  # k = 1: the single-token runs already hold both oracles
        by_donor, masked = out["resampling", measure].single, out["masking", measure].single[:, 0]
        out["resampling", measure].sets |= {("oracle (naive)", 1): naive_oracle(by_donor),
                                            ("oracle (cross-fitted)", 1): cross_fitted_oracle(by_donor)}
        out["masking", measure].sets |= {("oracle (naive)", 1): naive_oracle(masked[:, None]),
                                         ("oracle (cross-fitted)", 1): cross_fitted_oracle(by_donor, masked)}
    if not any(k > 1 for k in k_values):
        return out
    second = {}  # k > 1: the oracles' sets depend on the single-token effects just measured
    for measure in MEASURES:
        for k in [k for k in k_values if k > 1]:
            res_naive, res_cross = oracle_choices(out["resampling", measure].single, k)
            mask_naive, _ = oracle_choices(out["masking", measure].single, k)
            for t, r in enumerate(rows):
                donors = texts.donor_ids(t)[:set_donors]
                second[t, measure, k] = {
                    ("masking", "oracle (naive)"): [r.removal(mask_naive[t])],
                    ("masking", "oracle (cross-fitted)"): [r.removal(res_naive[t])],
                    ("resampling", "oracle (naive)"): [r.removal(res_naive[t], d) for d in donors],
                    ("resampling", "oracle (cross-fitted)"): [r.removal(res_cross[t][i], d) for i, d in enumerate(donors)],
                }
    _run(loaded, texts, rows)
    for (t, measure, k), entry in second.items():
        for (removal, name), row_ids in entry.items():
            out[removal, measure].sets.setdefault((name, k), np.full(len(plan), np.nan))[t] = rows[t].effect(measure, row_ids)
    return out


def top_k_effects(loaded, texts: SpreadTexts, rankings: dict[str, list[np.ndarray]], k: int) -> dict:
    """Resampling only, no single token: each selector's top ``k`` removed, and the whole context, from every
    donor of each text — about ``1 + D (1 + selectors)`` rows per text, so many passages are affordable (the literal
    reading at scale). ``{("resampling", measure): Effects}`` with sets ``(selector, k)`` and no single-token
    effects."""
    rows, plan = [], []
    for t, ids in enumerate(texts.ids):
        if not texts.donors[t]:
            raise ValueError(f"text {t} has no donor to resample from")
        r, donors = _Rows(ids), texts.donor_ids(t)
        n = texts.n_candidates(t)
        plan.append({"full": [r.removal(np.arange(1, n + 1), d) for d in donors]}
                    | {s: [r.removal(top_k_positions(scores[t][:n], k), d) for d in donors] for s, scores in rankings.items()})
        rows.append(r)
    _run(loaded, texts, rows)
    empty = np.full((len(rows), 1, 1), np.nan)
    return {("resampling", m): Effects(np.array([r.effect(m, p["full"]) for r, p in zip(rows, plan)]), empty,
                                       {(s, k): np.array([r.effect(m, p[s]) for r, p in zip(rows, plan)])
                                        for s in rankings}) for m in MEASURES}



def _run(loaded, texts: SpreadTexts, rows: list[_Rows]) -> None:
    """Measure every row not measured yet (one cached call of :func:`continuation_runs`)."""
    pending = [r.pending() for r in rows]
    runs = continuation_runs(loaded, [p[0] for p in pending], [p[1] for p in pending], texts.n_targets)
    for r, loss, kl in zip(rows, runs.loss, runs.kl):
        r.loss, r.kl = [*(r.loss or loss[:1]), *loss[1:]], [*(r.kl or kl[:1]), *kl[1:]]


# ------------------------------------------------------------------------------------------------ the rankings


def selector_rankings(loaded, texts: SpreadTexts, scored, planted, blocks: Sequence[int], seed: int = 0
                      ) -> dict[str, list[np.ndarray]]:
    """Every selector of :data:`SELECTORS` on ``texts``: ``{selector: [scores over the candidates of text t]}``.

    ``scored`` are chapter 5's passages that ``texts`` were drawn from (:func:`passage_spread_texts`), whose
    selector tables are computed or read from chapter 5's cache; each selector is read at the option chosen on
    ``planted`` (:func:`llmgeom.experiments.tokenselect.chosen_options`). Content words come first, in a random order.
    """
    options = chosen_options(loaded, planted, blocks)
    tables = selector_tables(loaded, scored, blocks, top_predictions(loaded, scored))
    rng = np.random.default_rng(seed)
    out = {s: [tables[s][t, options[s], : texts.n_candidates(i)] for i, t in enumerate(texts.source)]
           for s in SELECTORS if s != CONTENT_WORDS}
    out[CONTENT_WORDS] = [scored.content[t] + 0.5 * rng.random(len(scored.content[t])) for t in texts.source]
    return {s: out[s] for s in SELECTORS}


LITERAL_SELECTORS = (*MEANINGFUL, RANDOM, RECENCY)
"""The literal reading at scale: the meaningful selectors and the two arbitrary ones they are paired with."""


def literal_rankings(loaded, texts: SpreadTexts, scored, planted, blocks: Sequence[int], seed: int = 0
                     ) -> dict[str, list[np.ndarray]]:
    """:data:`LITERAL_SELECTORS` on ``texts`` (drawn from the passages ``scored``), each at the option chosen on
    ``planted`` as in :func:`selector_rankings` and equal to it, but computed lean: the Lasso and attention at the
    chosen blocks only (one or two, not every block), recency and random as chapter 5 draws them, and no gradient or
    other selector — what makes hundreds of passages affordable. Content words come first, in a random order."""
    options = chosen_options(loaded, planted, blocks)
    chosen = {s: blocks[options[s]] for s in (LASSO_STATE, HEAD_MEAN)}
    needed = sorted(set(chosen.values()))
    scores = score_context_tokens(loaded, [scored.ids[t] for t in texts.source], needed)
    rng = np.random.default_rng(seed)
    out = {s: [] for s in LITERAL_SELECTORS}
    for i, t in enumerate(texts.source):
        n, length = texts.n_candidates(i), len(scored.ids[t])
        out[LASSO_STATE].append(scores.lasso_state[i, needed.index(chosen[LASSO_STATE]), :n])
        out[HEAD_MEAN].append(scores.attention[i, needed.index(chosen[HEAD_MEAN]), -1, :n])
        out[RECENCY].append(np.arange(n, dtype=float))
        out[RANDOM].append(np.random.default_rng([t, length]).random(n))  # chapter 5's draw (baseline_scores)
        out[CONTENT_WORDS].append(scored.content[t] + 0.5 * rng.random(len(scored.content[t])))
    return out
