"""Chapter 6's readings of claim C5 (the rules of the protocol page, :ref:`app-protocol`) and the whole measurement.

:func:`measure_spread` runs everything chapter 6 and a reproduction card need for one decoder, under one
:class:`~llmgeom.experiments.settings.Settings`: passages with every single token removed (from ``c5_donors``
donors, for the oracle bracket), many more passages with only the top ``k`` tokens of five selectors removed (the
literal reading at scale, from ``c5_literal_donors`` donors each), the natural-text control that gates both
readings and the planted-prompt control beside it (from ``c5_set_donors`` donors). The
rules are functions with truth tables in ``tests/test_spread.py``: :func:`control_passes`, :func:`bracket_word`,
:func:`literal_reading`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmgeom.core.fit import bootstrap_mean_ci, bootstrap_ratio_ci
from llmgeom.data.planted import ALL_TASKS
from llmgeom.experiments.selectors import RANDOM, RECENCY
from llmgeom.experiments.spread import (MEANINGFUL, MEASURES, REMOVALS, Effects, fact_control_texts,
                                        literal_rankings, passage_spread_texts, planted_spread_texts,
                                        selector_rankings, spread_experiment, top_k_effects)
from llmgeom.experiments.tokenselect import blocks_for, passage_texts, planted_texts

DEFAULT = ("resampling", "loss")
"""The removal method and measure that decide chapter 6's verdict."""


# ------------------------------------------------------------------------------------------------ the readings


@dataclass(frozen=True)
class Reading:
    """One reading of C5 on one decoder: its word and the shares (with intervals) that decided it."""

    word: str
    shares: dict


def control_passes(control: dict | None, removal: str, measure: str, n_boot: int = 1000, seed: int = 0
                   ) -> tuple[bool, tuple]:
    """The control's rule: removing the answer-bearing token(s) alone takes more than half of the context's
    information (the interval's lower bound above one half). Returns ``(passes, (share, low, high))``; a control
    that was not run (``None``: too few texts answered) fails, with NaN shares."""
    if control is None:
        return False, (float("nan"),) * 3
    share = control[removal, measure].share("answer-bearing", 0, n_boot, seed)
    return bool(share[1] > 0.5), share


SPREAD_BELOW, CONCENTRATED_ABOVE = 0.35, 0.65
"""The oracle bracket's thresholds (the protocol's pre-registered concentration rule, issue 33)."""


def bracket_word(cross_fitted: tuple, naive: tuple) -> str:
    """The pre-registered concentration rule on the oracle bracket [cross-fitted, naive], each ``(share, low, high)``.

    The cross-fitted oracle's share lies below the best single token's (its choice is noisy), the naive oracle's
    above it (chosen on the data it is scored on), so the truth lies between them (``tests/test_spread.py``
    simulates both at two and eight donors): *spread* if the naive upper bound
    is below :data:`SPREAD_BELOW`; *concentrated* if the cross-fitted lower bound is above
    :data:`CONCENTRATED_ABOVE`; *intermediate* if the cross-fitted lower bound is above :data:`SPREAD_BELOW` and the
    naive upper bound below :data:`CONCENTRATED_ABOVE`; *inconclusive* otherwise."""
    cross_low, naive_high = cross_fitted[1], naive[2]
    if naive_high < SPREAD_BELOW:
        return "spread"
    if cross_low > CONCENTRATED_ABOVE:
        return "concentrated"
    return "intermediate" if cross_low > SPREAD_BELOW and naive_high < CONCENTRATED_ABOVE else "inconclusive"


def literal_reading(effects: dict, removal: str, measure: str, k: int, n_boot: int = 1000, seed: int = 0) -> Reading:
    """Do the "meaningful" selectors' top ``k`` tokens carry a minority of the information? Each of
    :data:`MEANINGFUL` with a simultaneous interval (Bonferroni over them): *reproduced* if every upper bound is
    below one half, *not reproduced* if any lower bound is above, *inconclusive* otherwise."""
    confidence = 1 - 0.05 / len(MEANINGFUL)
    shares = {s: effects[removal, measure].share(s, k, n_boot, seed, confidence) for s in MEANINGFUL}
    if any(low > 0.5 for _, low, _ in shares.values()):
        return Reading("not reproduced", shares)
    return Reading("reproduced" if all(high < 0.5 for *_, high in shares.values()) else "inconclusive", shares)


def above_full(effects: dict, k: int) -> dict:
    """Per (removal, measure): how often removing a selector's or oracle's top ``k`` costs more than removing the
    whole context — the share of (text, set) pairs, and the largest share of means among the sets."""
    out = {}
    for key, e in effects.items():
        names = [n for (n, kk) in e.sets if kk == k]
        table = np.stack([e.sets[n, k] for n in names])
        out[key] = (float(np.mean(table > e.full)), max(e.sets[n, k].mean() / e.full.mean() for n in names))
    return out


def shares_table(effects: dict | None, names: Sequence[str], k_values: Sequence[int], n_boot: int = 1000, seed: int = 0
                 ) -> list[tuple[str, int, list[tuple[float, float, float] | None]]]:
    """Rows ``(set, k, [(share, low, high) per removal × measure])``: the share [95% CI] of every set under every
    removal × measure, ``None`` where that removal was not run (the literal reading's passages are resampled only)
    (:func:`llmgeom.publish.tables.shares_markdown` writes them as a table)."""
    if effects is None:  # a control that was not run
        return []
    keys = [(r, m) for r in REMOVALS for m in MEASURES]
    first = next(key for key in keys if key in effects)
    return [(name, k, [effects[key].share(name, k, n_boot, seed) if key in effects else None for key in keys])
            for name in names for k in k_values if (name, k) in effects[first].sets]


def bracket_reading(effects: dict, removal: str = "resampling", measure: str = "loss", n_boot: int = 1000,
                    seed: int = 0) -> Reading:
    """The concentration reading: :func:`bracket_word` on the single-token oracles' shares (``k = 1``)."""
    shares = {name: effects[removal, measure].share(name, 1, n_boot, seed)
              for name in ("oracle (cross-fitted)", "oracle (naive)")}
    return Reading(bracket_word(shares["oracle (cross-fitted)"], shares["oracle (naive)"]), shares)


PAIRED_WITH = (RANDOM, RECENCY)
"""The arbitrary selectors each meaningful selector's top ``k`` is compared with, passage by passage."""


def paired_differences(effects: dict, k: int, removal: str = "resampling", measure: str = "loss",
                       n_boot: int = 1000, seed: int = 0) -> dict[tuple[str, str], tuple[float, float, float]]:
    """``{(meaningful, arbitrary): (difference, low, high)}``: the share of a meaningful selector's top ``k`` minus
    an arbitrary one's (:data:`PAIRED_WITH`), on the same passages and over the same whole-context effect, with
    intervals Bonferroni-corrected over the pairs. Positive: the meaningful tokens carry more than arbitrary ones."""
    e = effects[removal, measure]
    pairs = [(s, b) for s in MEANINGFUL for b in PAIRED_WITH]
    confidence = 1 - 0.05 / len(pairs)
    return {(s, b): bootstrap_ratio_ci(e.sets[s, k] - e.sets[b, k], e.full, n_boot, seed, confidence) for s, b in pairs}


def per_passage_summary(e: Effects, name: str, k: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """One set's shares passage by passage, over the passages whose whole-context removal costs something:
    ``{"median": (m, low, high), "over_half": (fraction, low, high), "n": used, "n_total": all}``. A ratio of means
    weights passages by their whole-context effect; these summaries weight them equally."""
    used = np.isfinite(e.sets[name, k]) & (e.full > 0)
    shares = e.sets[name, k][used] / e.full[used]
    rng = np.random.default_rng(seed)
    medians = np.median(shares[rng.integers(0, len(shares), (n_boot, len(shares)))], axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return {"median": (float(np.median(shares)), float(low), float(high)),
            "over_half": bootstrap_mean_ci((shares > 0.5).astype(float), n_boot, seed), "n": int(used.sum()),
            "n_total": len(used)}


# ------------------------------------------------------------------------------------------------ the measurement


@dataclass
class SpreadResult:
    """Everything chapter 6 reads for one decoder.

    ``effects``: the oracle passages (every single token removed, from every donor and by masking; both measures;
    so every selector's top token too); ``literal``: the passages of the literal reading at scale (resampling only,
    :data:`~llmgeom.experiments.spread.LITERAL_SELECTORS`'s top
    ``k``); ``fact_control`` and ``planted_control``: the two controls (sets ``answer-bearing`` and ``random`` at
    ``k = 0``); ``counts``: how many texts each part kept."""

    effects: dict
    literal: dict
    fact_control: dict | None
    planted_control: dict | None
    counts: dict


def measure_spread(loaded, settings, min_control: int = 10) -> SpreadResult:
    """Run chapter 6 on one decoder with ``settings`` (:class:`~llmgeom.experiments.settings.Settings`); every
    forward pass is cached, so the chapter and a card with the same settings share them. A control with fewer than
    ``min_control`` answered texts is not run (``None``)."""
    corpus, seed, k = settings.corpus, settings.seed, settings.c5_k
    blocks = blocks_for(loaded, settings.block_step)
    planted = planted_texts(loaded, ALL_TASKS, settings.c4_per_task, seed)
    scored = passage_texts(loaded, corpus, max(settings.c4_passages, settings.c5_texts), settings.c4_input, seed)
    texts = passage_spread_texts(loaded, scored, corpus, settings.c5_texts, settings.c5_targets, settings.c5_donors, seed)
    effects = spread_experiment(loaded, texts, selector_rankings(loaded, texts, scored, planted, blocks, seed), (1,),
                                seed=seed)
    wide = passage_texts(loaded, corpus, settings.c5_literal_texts, settings.c4_input, seed)
    many = passage_spread_texts(loaded, wide, corpus, settings.c5_literal_texts, settings.c5_targets,
                                settings.c5_literal_donors, seed)
    literal = top_k_effects(loaded, many, literal_rankings(loaded, many, wide, planted, blocks, seed), k)
    facts = fact_control_texts(loaded, corpus, settings.c5_fact_texts, settings.c4_input, settings.c5_set_donors, seed)
    prompts = planted_spread_texts(loaded, ALL_TASKS, settings.c4_per_task, settings.c5_set_donors, seed)
    controls = [spread_experiment(loaded, t, control=True, seed=seed) if len(t) >= min_control else None
                for t in (facts, prompts)]
    counts = {"passages": len(texts), "literal passages": len(many), "fact texts": len(facts),
              "planted prompts": len(prompts)}
    return SpreadResult(effects, literal, *controls, counts)


@dataclass(frozen=True)
class SpreadVerdict:
    """One decoder's C5 readings under the protocol's rules: ``passes`` (the natural-text control, which gates both
    readings), the ``controls``' shares, ``bracket`` and ``literal`` (:class:`Reading`; their word is
    ``inconclusive (its control fails)`` where the control fails), the ``paired`` differences and the
    ``per_passage`` summaries (the cross-fitted oracle's token and each meaningful selector's top ``k``)."""

    passes: bool
    controls: dict
    bracket: Reading
    literal: Reading
    paired: dict
    per_passage: dict


def decide_spread(result: SpreadResult, k: int, n_boot: int = 1000, seed: int = 0) -> SpreadVerdict:
    """Apply the protocol's C5 rules to one decoder's :class:`SpreadResult` under the deciding method and measure."""
    controls = {name: control_passes(c, *DEFAULT, n_boot, seed) for name, c in (("natural", result.fact_control), ("planted", result.planted_control))}
    passes = controls["natural"][0]
    bracket = bracket_reading(result.effects, *DEFAULT, n_boot, seed)
    literal = literal_reading(result.literal, *DEFAULT, k, n_boot, seed)
    if not passes:
        bracket, literal = (Reading("inconclusive (its control fails)", r.shares) for r in (bracket, literal))
    per_passage = {("oracle (cross-fitted)", 1): per_passage_summary(result.effects[DEFAULT], "oracle (cross-fitted)", 1,
                                                                     n_boot, seed)}
    per_passage |= {(s, k): per_passage_summary(result.literal[DEFAULT], s, k, n_boot, seed) for s in MEANINGFUL}
    return SpreadVerdict(passes, controls, bracket, literal, paired_differences(result.literal, k, *DEFAULT, n_boot, seed),
                         per_passage)
