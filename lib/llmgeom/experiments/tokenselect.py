"""Chapter 5's experiment (claim C4) as functions: texts, selectors, ground truths, comparisons and the verdict.

The chapter calls :func:`run_experiment` once per decoder and :func:`decide_verdict` once, and shows what they
return; chapter 6 can build on the same set-up functions. The pieces:

* :func:`passage_texts` and :func:`planted_texts` — the texts one model reads, as text ids (its BOS is added where it
  runs, :mod:`llmgeom.data.feeding`), with what each ground truth needs;
* :func:`baseline_scores` — the attribution baselines of :mod:`llmgeom.measure.attribution` on those texts, laid out
  like :class:`llmgeom.experiments.selection.ContextScores` (``[texts, options, M]``, candidate ``j`` is text token
  ``j + 1``);
* :func:`paired_comparison` and :func:`holm_family` — a selector against another on the same texts, each at the
  option chosen on the other half of the texts, with a bootstrap interval, a sign-flip p-value, and Holm's
  adjustment over a family of such comparisons;
* :func:`selector_tables`, :func:`run_experiment` — every selector against every ground truth of one model, and
  against the strongest trivial baseline and attention;
* :func:`decide_verdict` and :func:`verdict_from_tests` — the protocol's rule for C4 over both decoders;
* :func:`answered_pool`, :func:`chosen_options` — the prompts a model answers, and each selector's block (and
  head) chosen on them, for chapter 6;
* the chapter's tables are written by :mod:`llmgeom.publish.tables`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from llmgeom.core.fit import bootstrap_mean_ci
from llmgeom.core.metrics import auroc, cross_validated_best, hit_at_k, position_prior, precision_at_k, spearman
from llmgeom.core.stats import common_word, holm, sign_flip_p_value
from llmgeom.data.corpora import sample_passages
from llmgeom.data.feeding import text_encoding
from llmgeom.data.planted import ALL_TASKS, NON_IDENTITY_TASKS, encode_planted, generate_planted
from llmgeom.experiments.selection import content_word_mask, score_context_tokens
from llmgeom.experiments.selectors import (BEST_HEAD, GRADIENT_X_INPUT, GRADIENT_X_INPUT_L2, HEAD_MEAN, ID_MATCH,
                                           LASSO_STATE, LASSO_UPDATE, POSITION_PRIOR, RANDOM, RECENCY, ROLLOUT,
                                           STRONGEST_BASELINE, VALUE_WEIGHTED)
from llmgeom.measure.attribution import attention_rollout, gradient_x_input, id_match_scores, value_weighted_attention
from llmgeom.measure.erasure import erasure_divergence, erasure_effects, masked_runs, single_erasure_masks
from llmgeom.measure.extract import hidden_states_for_ids
from llmgeom.store.cache import cached_arrays


@dataclass
class Texts:
    """The texts one model reads for chapter 5, and what each ground truth needs.

    ``ids[i]`` are text ids (the model reads its BOS first where it has one); ``targets[i]`` the token to predict
    after them (the true next token of a passage, the first token of a planted answer); ``kind[i]`` is
    ``"passage"`` or the planted task; ``bearing[i]`` (planted) and ``content[i]`` (passages) are bool arrays over
    the candidates, text tokens ``1 .. n − 2``, or ``None`` where they do not apply; ``repeated[i]`` (planted) says
    whether the query's last token also occurs earlier in the prompt.
    """

    ids: list[list[int]]
    targets: list[int]
    kind: list[str]
    bearing: list[np.ndarray | None] = field(default_factory=list)
    content: list[np.ndarray | None] = field(default_factory=list)
    repeated: list[bool | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def passage_texts(loaded, corpus: str, n_texts: int, n_input: int, seed: int = 0) -> Texts:
    """Held-out passages of ``n_input`` text tokens, each with its true next token and its content words."""
    passages = sample_passages(corpus, loaded.tokenizer, n_texts, n_input + 1, seed=seed)
    encoded = [text_encoding(loaded.tokenizer, p.text, offsets=True) for p in passages]
    return Texts(
        ids=[ids[:-1] for ids, _ in encoded],
        targets=[ids[-1] for ids, _ in encoded],
        kind=["passage"] * len(passages),
        bearing=[None] * len(passages),
        content=[content_word_mask(p.text, offsets[:-1])[1:-1] for p, (_, offsets) in zip(passages, encoded)],
        repeated=[None] * len(passages),
    )


def planted_texts(loaded, tasks: Sequence[str], n_per_task: int, seed: int = 0) -> Texts:
    """Planted prompts of every task in ``tasks``, ``n_per_task`` each, with their answer-bearing candidates."""
    prompts = [encode_planted(p, loaded.tokenizer) for task in tasks for p in generate_planted(task, n_per_task, seed=seed)]
    return Texts(
        ids=[p.ids for p in prompts],
        targets=[p.answer_id for p in prompts],
        kind=[p.prompt.task for p in prompts],
        bearing=[p.answer_bearing[1:-1] for p in prompts],
        content=[None] * len(prompts),
        repeated=[p.query_repeated for p in prompts],
    )


def blocks_for(loaded, step: int) -> list[int]:
    """The blocks chapters 5 and 6 read (1-based): every ``step``-th of a model deeper than 12 blocks, every block but
    the last otherwise, the last alone for a one-block model."""
    return list(range(1, loaded.n_layers, step if loaded.n_layers > 12 else 1)) or [loaded.n_layers]


def top_predictions(loaded, texts: Texts) -> np.ndarray:
    """``[texts]``: the model's most likely next token after each text (cached with the masked runs)."""
    runs = masked_runs(loaded, texts.ids, texts.targets, [np.ones((1, len(i)), bool) for i in texts.ids], layer=None)
    return np.array([int(top[0]) for top in runs.top_id])


def baseline_scores(loaded, texts: Texts, top_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """The baselines that need no block choice, ``{name: [texts, 1, M]}`` (NaN-padded to the longest text).

    * ``gradient × input`` for the log-probability of each text's target, signed and as an L2 norm;
    * ``id-match``: 1 where the candidate's token is the model's top prediction;
    * ``recency``: later candidates first; ``random``: a fixed uniform draw per text.
    """
    width = max(len(i) for i in texts.ids) - 2
    out = {name: np.full((len(texts), 1, width), np.nan)
           for name in (GRADIENT_X_INPUT, GRADIENT_X_INPUT_L2, ID_MATCH, RECENCY, RANDOM)}
    gradients, lengths = gradient_x_input(loaded, texts.ids, texts.targets)
    for t, ids in enumerate(texts.ids):
        m = len(ids) - 2
        out[GRADIENT_X_INPUT][t, 0, :m] = gradients[t][1:-1]
        out[GRADIENT_X_INPUT_L2][t, 0, :m] = lengths[t][1:-1]
        out[ID_MATCH][t, 0, :m] = id_match_scores(ids[1:-1], top_ids[t])
        out[RECENCY][t, 0, :m] = np.arange(m, dtype=float)
        out[RANDOM][t, 0, :m] = np.random.default_rng([t, len(ids)]).random(m)
    return out


def metric_table(scores: np.ndarray, truths: Sequence[np.ndarray | None], metric) -> np.ndarray:
    """``metric(scores, truth)`` per text and option: ``[texts, options]``; NaN where a text has no truth.

    ``metric`` takes one text's ``[options, m]`` scores at once (:mod:`llmgeom.core.metrics`)."""
    table = np.full(scores.shape[:2], np.nan)
    for t, truth in enumerate(truths):
        if truth is not None:
            table[t] = metric(scores[t, :, : len(truth)], truth)
    return table


@dataclass(frozen=True)
class Comparison:
    """``a − b`` of one metric over the same texts, each at its option chosen out of sample."""

    difference: float
    low: float
    high: float
    p_value: float
    n_texts: int
    adjusted_p: float = float("nan")

    @property
    def significant(self) -> bool:
        return bool(self.adjusted_p < SIGNIFICANCE)


def paired_comparison(table_a: np.ndarray, table_b: np.ndarray, n_resamples: int = 2000, seed: int = 0
                      ) -> Comparison | None:
    """Selector ``a`` minus selector ``b`` on the same texts, each at the option (block, head) chosen on the other
    half of the texts (:func:`llmgeom.core.metrics.cross_validated_best`): mean difference, 95% bootstrap interval
    and two-sided sign-flip p-value, both with ``n_resamples`` resamples. ``None`` under 10 texts."""
    diff = cross_validated_best(table_a) - cross_validated_best(table_b)
    diff = diff[np.isfinite(diff)]
    if len(diff) < 10:
        return None
    mean, low, high = bootstrap_mean_ci(diff, n_resamples, seed)
    return Comparison(mean, low, high, sign_flip_p_value(diff, n_resamples, seed), len(diff))


def holm_family(comparisons: dict) -> dict:
    """Holm-adjust a family ``{cell: Comparison or None}``: each tested cell gets its ``adjusted_p``."""
    cells = [k for k, v in comparisons.items() if v is not None]
    adjusted = holm([comparisons[k].p_value for k in cells]) if cells else []
    out = dict(comparisons)
    for k, p in zip(cells, adjusted):
        out[k] = replace(comparisons[k], adjusted_p=float(p))
    return out


# ------------------------------------------------------------------------------------------------ the experiment

SELECTORS = (LASSO_STATE, LASSO_UPDATE, HEAD_MEAN, BEST_HEAD, ROLLOUT, VALUE_WEIGHTED, GRADIENT_X_INPUT,
             GRADIENT_X_INPUT_L2, ID_MATCH, RECENCY, RANDOM)
"""Every selector chapter 5 scores. ``lasso (state)`` is the paper's regression (the verdict's primary selector),
``lasso (update)`` this book's variant, reported beside it; the last three are baselines."""
PRIMARY, VARIANT, REFERENCE = LASSO_STATE, LASSO_UPDATE, HEAD_MEAN
SIGNIFICANCE = 0.05
"""The verdict's level: a comparison is significant when its Holm-adjusted p-value is below it."""
SMALL_EFFECT = 0.05
"""Nats: a single-token erasure effect below this counts as small (chapter 5's passages)."""
_STORED = {name: f"s{i}" for i, name in enumerate(SELECTORS)}  # array names in the cache file


def selector_tables(loaded, texts: Texts, blocks: Sequence[int], top_ids: Sequence[int], use_cache: bool = True
                    ) -> dict[str, np.ndarray]:
    """Every selector's scores, ``{selector: [texts, options, M]}`` (NaN-padded), cached.

    Options are the blocks (1-based; each selector looks at what block ``b`` reads), blocks × heads for the best
    head, and a single option for the baselines. Rollout composes blocks ``1 .. b``; value-weighted attention is
    block ``b``'s head mean of ``α · ‖v‖``.
    """
    blocks = [int(b) for b in blocks]

    def compute():
        # one pass: the states, attentions and value norms that every selector below reads
        states = hidden_states_for_ids(loaded, texts.ids, list(range(max(blocks) + 1)), attentions=True,
                                       value_blocks=blocks)
        scores = score_context_tokens(loaded, texts.ids, blocks, use_cache=use_cache, states=states)
        n, width = len(texts), max(len(i) for i in texts.ids) - 2
        heads = scores.attention.shape[2] - 1
        out = {
            LASSO_STATE: scores.lasso_state,
            LASSO_UPDATE: scores.lasso_update,
            HEAD_MEAN: scores.attention[:, :, -1],
            BEST_HEAD: scores.attention[:, :, :-1].reshape(n, len(blocks) * heads, width),
            ROLLOUT: np.full((n, len(blocks), width), np.nan),
            VALUE_WEIGHTED: np.full((n, len(blocks), width), np.nan),
        }
        for t, (ids, result) in enumerate(zip(texts.ids, states)):
            m, norms = len(ids) - 2, result["value_norms"]
            bos = result.get("prefix_attention")
            for j, b in enumerate(blocks):
                rolled = attention_rollout(result["attentions"][:b], None if bos is None else bos[:b])
                out[ROLLOUT][t, j, :m] = rolled[-1, 1:-1]
                weighted = value_weighted_attention(result["attentions"][b - 1], norms[j])
                out[VALUE_WEIGHTED][t, j, :m] = weighted[-1, 1:-1]
        out |= baseline_scores(loaded, texts, top_ids)
        return {_STORED[name]: out[name] for name in SELECTORS}

    ids = hashlib.sha256(json.dumps([[*map(int, i), int(t)] for i, t in zip(texts.ids, texts.targets)]).encode())
    stored = cached_arrays("selector_tables", compute, use_cache, model=loaded.fingerprint, blocks=blocks,
                           top=list(map(int, top_ids)), ids=ids.hexdigest())
    return {name: stored[_STORED[name]] for name in SELECTORS}


def answered_pool(loaded, planted: Texts) -> np.ndarray:
    """Indices of the non-identity planted prompts whose answer is the model's top prediction (chapter 5's pool)."""
    answered = top_predictions(loaded, planted) == np.array(planted.targets)
    return np.flatnonzero(answered & np.isin(planted.kind, NON_IDENTITY_TASKS))


def chosen_options(loaded, planted: Texts, blocks: Sequence[int]) -> dict[str, int]:
    """Each selector's option (block, or block × head) with the highest mean answer-bearing AUROC on the planted
    prompts of :func:`answered_pool` — texts other than any passage it is then applied to, so the choice is out of
    sample there (chapter 6). Selectors with one option get 0."""
    pool = answered_pool(loaded, planted)
    tables = selector_tables(loaded, planted, blocks, top_predictions(loaded, planted))
    out = {}
    for selector in SELECTORS:
        table = metric_table(tables[selector][pool], [planted.bearing[i] for i in pool], auroc)
        with np.errstate(all="ignore"):
            means = np.nanmean(table, axis=0) if len(pool) else np.zeros(table.shape[1])
        out[selector] = int(np.nanargmax(means)) if np.isfinite(means).any() else 0
    return out


@dataclass(frozen=True)
class Cell:
    """One selector against one ground truth: mean of the per-text metric (each text at the option chosen on the
    other half of the texts) with a 95% bootstrap interval, over ``n`` texts."""

    mean: float
    low: float
    high: float
    n: int


def evaluate(table: np.ndarray, n_boot: int = 1000, seed: int = 0) -> Cell | None:
    """:class:`Cell` of a ``[texts, options]`` metric table; ``None`` under 10 texts with a value."""
    values = cross_validated_best(table)
    values = values[np.isfinite(values)]
    if len(values) < 10:
        return None
    return Cell(*bootstrap_mean_ci(values, n_boot, seed), len(values))


FAMILY = ("erasure (passages)", "content words", "planted (answer-bearing)", "planted erasure (KL)",
          "planted erasure (greedy token)")
"""The ground truths of the verdict, each a cell per decoder; ``planted …`` use the non-identity prompts the model
answers."""
GROUND_TRUTHS = FAMILY + ("planted top-1 hit", "planted precision@3")
CHANCE = {"erasure (passages)": 0.0, "content words": 0.5, "planted (answer-bearing)": 0.5, "planted erasure (KL)": 0.0,
          "planted erasure (greedy token)": 0.0}


TRIVIAL = (RECENCY, POSITION_PRIOR, RANDOM)
"""The trivial baselines; the strongest of them for a ground truth is chosen on the other fold of texts."""
REPORTED = SELECTORS + (POSITION_PRIOR, STRONGEST_BASELINE)
"""Every column of chapter 5's tables: the selectors, the position prior and the strongest trivial baseline."""
SELECTS_CELLS = ("planted (answer-bearing)", "planted erasure (KL)")
"""The cells of the rule's S: state-Lasso against the strongest trivial baseline."""
SHOWN_AGAINST = (VALUE_WEIGHTED, BEST_HEAD)
"""Attention variants that state-Lasso is compared with and shown against, never deciding."""
SUBSETS = ("fresh", "repeated")
"""Planted prompts whose query's last token occurs only at the end, and those where it also occurs earlier."""


@dataclass
class ModelResult:
    """Chapter 5 on one model.

    ``cells[truth, selector]`` for every selector of :data:`REPORTED`; ``comparisons[truth, a, b]`` is ``a`` minus
    ``b`` (:class:`Comparison` or ``None``): every selector minus the strongest trivial baseline, Lasso (state and
    update) minus head-mean attention, and state-Lasso minus :data:`SHOWN_AGAINST`; ``subsets[subset, selector]`` the
    answer-bearing AUROC on the answered prompts of each of :data:`SUBSETS` (``n_subsets[subset]`` of them);
    ``per_task[task, selector]`` (top-1 hit on the prompts of one task the model answers) and
    ``per_task_precision[task, selector]`` (precision@3); ``distances[task]`` the distances (tokens) between the
    answer-bearing word and the query over all the task's prompts; ``erasure`` summarises the natural-text
    erasure effects. Cells are :class:`Cell` or ``None``."""

    name: str
    n_layers: int
    blocks: list[int]
    cells: dict
    comparisons: dict
    subsets: dict
    n_subsets: dict
    per_task: dict
    per_task_precision: dict
    n_answered: dict
    distances: dict
    n_passages: int
    erasure: dict
    sink_mass: np.ndarray
    sink_rate: np.ndarray


def selector_scores(loaded, passages: Texts, planted: Texts, blocks: Sequence[int]):
    """Every selector on both sets of texts (the forward passes, cached): ``(top_p, top_q, tables_p, tables_q)``, the
    model's top next token after each passage and prompt, and :func:`selector_tables` of each."""
    top_p, top_q = top_predictions(loaded, passages), top_predictions(loaded, planted)
    return top_p, top_q, selector_tables(loaded, passages, blocks, top_p), selector_tables(loaded, planted, blocks, top_q)


def ground_truths(loaded, passages: Texts, planted: Texts):
    """The erasure ground truths (the masked runs, cached): ``(effects, pool, divergence)`` — each passage's
    single-token erasure effects, the non-identity prompts the model answers, and their erasure divergence."""
    answered = top_predictions(loaded, planted) == np.array(planted.targets)
    pool = np.flatnonzero(answered & np.isin(planted.kind, NON_IDENTITY_TASKS))
    divergence = erasure_divergence(loaded, [planted.ids[i] for i in pool],
                                    [single_erasure_masks(len(planted.ids[i])) for i in pool])
    return erasure_effects(loaded, passages.ids, passages.targets), pool, divergence


def _distance(bearing: np.ndarray) -> int:
    """Tokens from a text's last answer-bearing candidate to its query (candidate ``j`` of ``m`` is ``m − j`` away)."""
    return int(len(bearing) - np.flatnonzero(bearing).max())


def run_experiment(loaded, passages: Texts, planted: Texts, blocks: Sequence[int], n_boot: int = 1000,
                   n_resamples: int = 2000, seed: int = 0) -> ModelResult:
    """Every selector against every ground truth on one model, and the paired comparisons of the verdict.

    Each metric is read per text at the block (and head) chosen on the other half of the texts; intervals are 95%
    bootstrap intervals over texts; p-values are two-sided sign-flip tests with ``n_resamples`` resamples. The
    position prior of a planted ground truth is the answer-bearing rate by distance; of a passage ground truth,
    that truth's own mean by distance.
    """
    top_p, top_q, tables_p, tables_q = selector_scores(loaded, passages, planted, blocks)
    answered = top_q == np.array(planted.targets)
    effects, pool, divergence = ground_truths(loaded, passages, planted)
    bearing = [planted.bearing[i] for i in pool]
    top1 = lambda s, b: hit_at_k(s, b, 1)  # noqa: E731
    precision3 = lambda s, b: precision_at_k(s, b, 3)  # noqa: E731
    truths = {
        "erasure (passages)": (tables_p, np.arange(len(passages)), effects, spearman),
        "content words": (tables_p, np.arange(len(passages)), passages.content, auroc),
        "planted (answer-bearing)": (tables_q, pool, bearing, auroc),
        "planted erasure (KL)": (tables_q, pool, divergence.kl, spearman),
        "planted erasure (greedy token)": (tables_q, pool, divergence.greedy_drop, spearman),
        "planted top-1 hit": (tables_q, pool, bearing, top1),
        "planted precision@3": (tables_q, pool, bearing, precision3),
    }
    cells, comparisons, subsets = {}, {}, {}
    repeated = np.array([bool(planted.repeated[i]) for i in pool], dtype=bool)
    masks = {"fresh": ~repeated, "repeated": repeated}
    for truth, (tables, rows, values, metric) in truths.items():
        table = {s: metric_table(tables[s][rows], values, metric) for s in SELECTORS}
        table[POSITION_PRIOR] = metric_table(position_prior(bearing if truth.startswith("planted") else values),
                                             values, metric)
        table[STRONGEST_BASELINE] = np.column_stack([table[b] for b in TRIVIAL])  # one option per baseline
        for selector, values_table in table.items():
            cells[truth, selector] = evaluate(values_table, n_boot, seed)
        pairs = [(s, STRONGEST_BASELINE) for s in SELECTORS if s not in TRIVIAL]
        pairs += [(PRIMARY, REFERENCE), (VARIANT, REFERENCE)] + [(PRIMARY, s) for s in SHOWN_AGAINST]
        for a, b in pairs:
            comparisons[truth, a, b] = paired_comparison(table[a], table[b], n_resamples, seed)
        if truth == "planted (answer-bearing)":
            for subset, mask in masks.items():
                for selector in (PRIMARY, VARIANT, REFERENCE, RECENCY, POSITION_PRIOR, STRONGEST_BASELINE):
                    subsets[subset, selector] = evaluate(table[selector][mask], n_boot, seed)
    per_task, per_task_precision, n_answered, distances = {}, {}, {}, {}
    for task in [t for t in ALL_TASKS if t in planted.kind]:
        of_task = np.array(planted.kind) == task
        distances[task] = sorted({_distance(planted.bearing[i]) for i in np.flatnonzero(of_task)})
        rows = np.flatnonzero(answered & of_task)
        n_answered[task] = len(rows)
        task_bearing = [planted.bearing[i] for i in rows]
        for selector in SELECTORS:
            per_task[task, selector] = evaluate(metric_table(tables_q[selector][rows], task_bearing, top1), n_boot, seed)
            per_task_precision[task, selector] = evaluate(
                metric_table(tables_q[selector][rows], task_bearing, precision3), n_boot, seed)
    largest = np.array([e.max() for e in effects])
    sink = score_context_tokens(loaded, passages.ids, blocks)
    return ModelResult(
        name=loaded.name, n_layers=loaded.n_layers, blocks=list(blocks), cells=cells, comparisons=comparisons,
        subsets=subsets, n_subsets={k: int(m.sum()) for k, m in masks.items()}, per_task=per_task,
        per_task_precision=per_task_precision, n_answered=n_answered, distances=distances, n_passages=len(passages),
        erasure={"median_largest": float(np.median(largest)),
                 "share_small": float(np.mean(np.abs(np.concatenate(effects)) < SMALL_EFFECT)),
                 "n_pool": int(len(pool))},
        sink_mass=sink.sink_mass.mean(axis=0), sink_rate=sink.sink_rate.mean(axis=0),
    )


@dataclass
class Verdict:
    """The verdict on C4 (the protocol's rule) over both decoders.

    ``tests[(model, "S" | "B", truth)]`` is every comparison the rule uses, Holm-adjusted together (``None`` where
    under 10 texts): ``S`` is state-Lasso minus the strongest trivial baseline in each of :data:`SELECTS_CELLS`,
    ``B`` state-Lasso minus head-mean attention in each cell of :data:`FAMILY`. ``selects[model]`` and
    ``better[model]`` say whether S and B hold; ``per_model[model]`` is that decoder's word and ``word`` the overall
    one (*model-dependent* when the decoders differ); ``marginal[model]`` lists the tests whose Holm decision,
    flipped alone, would change that decoder's word.
    """

    tests: dict
    selects: dict
    better: dict
    per_model: dict
    word: str
    marginal: dict

    @property
    def tested(self) -> list:
        return [k for k, c in self.tests.items() if c is not None]

    def positive(self, key) -> bool:
        """Whether a test is positive with a Holm-adjusted p-value below :data:`SIGNIFICANCE`."""
        return _positive(self.tests[key])

    def negative(self, key) -> bool:
        c = self.tests[key]
        return c is not None and c.significant and c.difference < 0

    @property
    def is_marginal(self) -> bool:
        return any(self.marginal.values())


def _positive(comparison: Comparison | None) -> bool:
    return comparison is not None and comparison.significant and comparison.difference > 0


def _rule(selects: bool, better: bool) -> str:
    if selects and better:
        return "reproduced"
    return "partly reproduced" if (selects or better) else "not reproduced"


def _model_word(model, decisions: dict) -> tuple[str, bool, bool]:
    """``(word, S, B)`` of one decoder from the tests' decisions ``{(model, kind, truth): positive}``."""
    selects = all(decisions.get((model, "S", truth), False) for truth in SELECTS_CELLS)
    better = any(value for (m, kind, _), value in decisions.items() if m == model and kind == "B")
    return _rule(selects, better), selects, better


def verdict_from_tests(tests: dict) -> Verdict:
    """The rule on the tests ``{(model, "S" | "B", truth): Comparison | None}``, Holm-adjusted here over all of them.

    Per decoder, *S* holds when every :data:`SELECTS_CELLS` test is positive with Holm-adjusted p below
    :data:`SIGNIFICANCE`, *B* when at least one ``B`` test is; *reproduced* = S and B, *partly reproduced* = exactly
    one, *not reproduced* = neither. The overall word is the decoders' common word, else *model-dependent*.
    """
    tests = holm_family(tests)
    decisions = {k: _positive(c) for k, c in tests.items()}
    models = list(dict.fromkeys(k[0] for k in tests))
    per_model, selects, better, marginal = {}, {}, {}, {}
    for model in models:
        per_model[model], selects[model], better[model] = _model_word(model, decisions)
        marginal[model] = [k for k, c in tests.items() if k[0] == model and c is not None
                           and _model_word(model, decisions | {k: not decisions[k]})[0] != per_model[model]]
    return Verdict(tests, selects, better, per_model, common_word(per_model.values()), marginal)


def decide_verdict(results: dict) -> Verdict:
    """The protocol's rule for C4 on ``{model: ModelResult}`` (:func:`verdict_from_tests` on their comparisons)."""
    tests = {}
    for model, r in results.items():
        tests |= {(model, "S", t): r.comparisons[t, PRIMARY, STRONGEST_BASELINE] for t in SELECTS_CELLS}
        tests |= {(model, "B", t): r.comparisons[t, PRIMARY, REFERENCE] for t in FAMILY}
    return verdict_from_tests(tests)
