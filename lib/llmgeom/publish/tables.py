"""Chapters 5 and 6's tables as Markdown: what the experiments computed, formatted; nothing is computed here.

Chapter 5 (:mod:`llmgeom.experiments.tokenselect`): every ground truth against every selector, the verdict's family,
top-1 hits per planted task. Chapter 6 (:mod:`llmgeom.experiments.spreadverdict`): the shares of the context's information
that each removed set carries.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmgeom.experiments.spread import MEASURES, REMOVALS
from llmgeom.experiments.tokenselect import GROUND_TRUTHS, REPORTED, Cell, ModelResult, Verdict


def _cell(cell: Cell | None, digits: int = 2) -> str:
    return "—" if cell is None else f"{cell.mean:.{digits}f} [{cell.low:.{digits}f}, {cell.high:.{digits}f}]"


TRUTH_LABELS = {"erasure (passages)": "erasure, passages (Spearman; 0)", "content words": "content words (AUROC; 0.5)",
                "planted (answer-bearing)": "planted, answer-bearing (AUROC; 0.5)",
                "planted erasure (KL)": "planted erasure, KL (Spearman; 0)",
                "planted erasure (greedy token)": "planted erasure, greedy token (Spearman; 0)",
                "planted top-1 hit": "planted, top-1 answer-bearing (share)",
                "planted precision@3": "planted, answer-bearing among the top 3 (share)"}
"""Each ground truth with its metric and chance level, as chapter 5's tables head their columns."""


def cells_markdown(result: ModelResult, selectors: Sequence[str] = REPORTED) -> str:
    """One Markdown table: every selector (rows) against every ground truth (columns, with the texts it has), mean
    [95% CI]. Selectors run down the page, so the table keeps its width at any number of selectors."""
    counts = {truth: max((c.n for s in selectors if (c := result.cells[truth, s]) is not None), default=0)
              for truth in GROUND_TRUTHS}
    lines = ["| selector | " + " | ".join(f"{TRUTH_LABELS[t]}, {counts[t]} texts" for t in GROUND_TRUTHS) + " |",
             "|---|" + "---:|" * len(GROUND_TRUTHS)]
    for s in selectors:
        lines.append(f"| {s} | " + " | ".join(_cell(result.cells[truth, s]) for truth in GROUND_TRUTHS) + " |")
    return "\n".join(lines)


def verdict_markdown(verdict: Verdict, labels: dict | None = None) -> str:
    """The rule's tests: per (model, test, ground truth) the difference, its interval, the sign-flip p-value and
    Holm's adjusted p, whether it counts (positive after Holm) and whether flipping it alone changes the model's word."""
    labels = labels or {}
    names = {"S": "state-Lasso − strongest trivial baseline", "B": "state-Lasso − head-mean attention"}
    lines = ["| model | test | ground truth | difference | 95% CI | p | Holm p | counts | decides the word alone |",
             "|---|---|---|---:|---|---:|---:|---|---|"]
    for key, c in verdict.tests.items():
        model, kind, truth = key
        head = f"| {labels.get(model, model)} | {kind}: {names[kind]} | {truth} |"
        if c is None:
            lines.append(f"{head} — | too few texts | | | no | |")
            continue
        lines.append(f"{head} {c.difference:+.3f} | {c.low:+.3f} to {c.high:+.3f} | {c.p_value:.4f} | "
                     f"{c.adjusted_p:.4f} | {'yes' if verdict.positive(key) else 'no'} | "
                     f"{'yes' if key in verdict.marginal[model] else 'no'} |")
    return "\n".join(lines)


def subsets_markdown(result: ModelResult, selectors: Sequence[str]) -> str:
    """Answer-bearing AUROC on the fresh and repeated-query subsets of the answered prompts: mean [95% CI], one row
    per selector."""
    subsets = list(result.n_subsets)
    lines = ["| selector | " + " | ".join(f"{subset} ({n} answered)" for subset, n in result.n_subsets.items()) + " |",
             "|---|" + "---:|" * len(subsets)]
    for s in selectors:
        lines.append(f"| {s} | " + " | ".join(_cell(result.subsets[subset, s]) for subset in subsets) + " |")
    return "\n".join(lines)


def tasks_markdown(result: ModelResult, selectors: Sequence[str]) -> str:
    """Top-1 hit per planted task (prompts the model answers): mean [95% CI], or — under 10 prompts, one row per
    selector and one column per task; the first rows give each task's answered prompts and the distances (tokens)
    between the answer-bearing word and the query over all its prompts."""
    tasks = list(result.n_answered)
    lines = ["| | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks),
             "| answered | " + " | ".join(str(result.n_answered[t]) for t in tasks) + " |",
             "| distances | " + " | ".join(", ".join(map(str, result.distances[t])) for t in tasks) + " |"]
    for s in selectors:
        lines.append(f"| {s} | " + " | ".join(_cell(result.per_task[t, s]) for t in tasks) + " |")
    return "\n".join(lines)


def shares_markdown(rows: Sequence[tuple[str, int, list[tuple[float, float, float] | None]]]) -> str:
    """One Markdown table of :func:`llmgeom.experiments.spreadverdict.shares_table`'s rows: the share [95% CI] of every set
    (rows) under every removal × measure (columns)."""
    keys = [(r, m) for r in REMOVALS for m in MEASURES]
    lines = ["| removed | $k$ | " + " | ".join(f"{r}, {'loss' if m == 'loss' else 'KL'}" for r, m in keys) + " |",
             "|---|---:|" + "---:|" * len(keys)]
    for name, k, cells in rows:
        shares = " | ".join("—" if cell is None else f"{cell[0]:.0%} [{cell[1]:.0%}, {cell[2]:.0%}]" for cell in cells)
        lines.append(f"| {name} | {k or '—'} | {shares} |")
    return "\n".join(lines)


def _interval(cell: tuple[float, float, float]) -> str:
    return f"{cell[0]:.2f} [{cell[1]:.2f}, {cell[2]:.2f}]"


def sentence_markdown(summaries: dict) -> str:
    """Chapter 7's table: per (model, distance) :func:`llmgeom.experiments.roleswap.layer_summary` — synonym
    paraphrases against the role swap at the cross-validated layer (the verdict's cell) and at the final layer,
    passives at the final layer, the easy negative, and the oracle layer."""
    lines = ["| model | distance | synonym vs swap, cross-validated layer [95% CI] | synonym, final | passive, final | "
             "easy: unrelated, final [95% CI] | best layer for synonyms (oracle) |", "|---|---|---|---:|---:|---|---|"]
    for (model, distance), s in summaries.items():
        layers = ", ".join(map(str, s["layers"]))
        lines.append(f"| `{model}` | {distance} | {_interval(s['cross-validated'])} (layer {layers}) | "
                     f"{s['synonym'][0]:.2f} | {s['passive'][0]:.2f} | {_interval(s['easy'])} | "
                     f"{s['oracle'][1]:.2f} (layer {s['oracle'][0]}) |")
    return "\n".join(lines)
